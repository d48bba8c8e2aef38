"""Notifications, `/ws/notifications`: a user's notifications on each of their sockets.

Pending ones first, oldest first; then new ones as they are sent. Each stays
pending until acknowledged with `{"type": "ack", "id": N}` (at least once:
see `azu_ws/notifications.py` for the exact semantics).
"""

import json
from typing import Annotated

from azu_ws import (
    SYSTEM_NOTIFICATIONS,
    Channel,
    ErrorMessage,
    Frame,
    NotificationMessage,
    Notifier,
    Ping,
    Pong,
    notifications_topic,
)
from pydantic import Field

from ..messages import Ack, Acked

NotificationsInbound = Annotated[Ping | Ack, Field(discriminator="type")]
# Notifications reach the socket from the store and the notifier, already serialised.
NotificationsOutbound = Pong | Acked | NotificationMessage


class NotificationsChannel(Channel[NotificationsInbound, NotificationsOutbound]):
    path = "/ws/notifications"

    @property
    def notifier(self) -> Notifier:
        notifier: Notifier = self.state.notifier  # made in app.py's lifespan
        return notifier

    async def on_connect(self) -> None:
        # Live notifications wait while the pending ones go out, oldest first;
        # then those already sent among them are dropped, now and later (with
        # Redis, a notification read from the store may be relayed after the
        # backlog is out): no gap, no duplicate, no reordering.
        self.connection.hold()
        await self.join(SYSTEM_NOTIFICATIONS)
        await self.join(notifications_topic(self.user.id))
        last_sent = await self._push_pending()
        self.connection.refuse = lambda frame: _already_sent(frame, last_sent)
        await self.connection.release(lambda frame: not _already_sent(frame, last_sent))

    async def on_message(self, message: NotificationsInbound) -> None:
        match message:
            case Ping():
                await self.reply(message, Pong())
            case Ack(id=notification_id):
                if await self.notifier.store.ack(self.user.id, notification_id):
                    await self.reply(message, Acked(id=notification_id))
                else:
                    unknown = f"No pending notification {notification_id}"
                    error = ErrorMessage(code="unknown_notification", message=unknown)
                    await self.reply(message, error)

    async def _push_pending(self) -> int:
        """Send every pending notification, a page at a time; return the newest id sent."""
        store, after = self.notifier.store, 0
        while page := await store.pending(self.user.id, after=after, limit=PAGE):
            for notification in page:
                await self.connection.send_in_turn(notification.message().model_dump_json())
                after = notification.id
        return after


PAGE = 100


def _already_sent(frame: Frame, last_sent: int) -> bool:
    """True for a user notification in the backlog: ids grow, and each is stored with its id
    in one step, so none stored after the backlog was read can have a smaller one."""
    if not isinstance(frame, str) or '"notification"' not in frame:
        return False
    message = json.loads(frame)
    notification_id = message.get("id") if message.get("type") == "notification" else None
    return isinstance(notification_id, int) and notification_id <= last_sent
