"""Notifications, `/ws/notifications`: a user's notifications on each of their sockets.

Pending ones first, oldest first; then new ones as they are sent. Each stays
pending until acknowledged with `{"type": "ack", "id": N}` (at least once:
see `notifications.py` at the package root for the exact semantics).
"""

from typing import Annotated

from pydantic import Field

from ..core.channel import Channel
from ..messages import Ack, Acked, ErrorMessage, Ping, Pong
from ..notifications import SYSTEM_NOTIFICATIONS, notifications_topic

NotificationsInbound = Annotated[Ping | Ack, Field(discriminator="type")]


class NotificationsChannel(Channel[NotificationsInbound]):
    path = "/ws/notifications"

    async def on_connect(self) -> None:
        await self.join(SYSTEM_NOTIFICATIONS)
        # Pending ones, then live ones. One stored between the two steps is
        # fetched again after joining; a duplicate is possible, a gap is not.
        last_seen = await self._push_pending(after=0)
        await self.join(notifications_topic(self.user.id))
        await self._push_pending(after=last_seen)

    async def on_message(self, message: NotificationsInbound) -> None:
        match message:
            case Ping():
                await self.reply(message, Pong())
            case Ack(id=notification_id):
                if await self.services.notifier.store.ack(self.user.id, notification_id):
                    await self.reply(message, Acked(id=notification_id))
                else:
                    unknown = f"No pending notification {notification_id}"
                    error = ErrorMessage(code="unknown_notification", message=unknown)
                    await self.reply(message, error)

    async def _push_pending(self, after: int) -> int:
        """Send pending notifications newer than `after`; return the newest id sent."""
        for notification in await self.services.notifier.store.pending(self.user.id, after=after):
            await self.push(notification.message())
            after = notification.id
        return after
