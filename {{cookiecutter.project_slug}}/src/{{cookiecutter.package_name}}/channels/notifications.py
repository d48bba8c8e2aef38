"""Notifications, `/ws/notifications`: a user's notifications on each of their sockets.

Pending ones first, oldest first; then new ones as they are sent. Each stays
pending until acknowledged with `{"type": "ack", "id": N}` (at least once:
see `azu_ws/notifications.py` for the exact semantics).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Literal

from azu_ws import (
    SQLITE_PREFIX,
    SYSTEM_NOTIFICATIONS,
    Channel,
    ClientError,
    ClientMessage,
    ErrorCodes,
    NotificationMessage,
    Notifier,
    Ping,
    Pong,
    RuntimeSettings,
    ServerMessage,
    Services,
    notifications_topic,
    open_store,
    state_of,
)
from pydantic import Field, StrictInt, field_validator
from starlette.applications import Starlette


class NotificationSettings(RuntimeSettings):
    """The notification store's settings, part of the app's (`config.py`)."""

    # Where notifications are stored: a SQLite file, or Redis for many hosts.
    database_url: str = "sqlite:///data/app.db"
    notification_max_pending: int = Field(default=100, ge=1)
    notification_ttl: float = Field(default=7 * 24 * 3600, gt=0)

    @field_validator("database_url")
    @classmethod
    def _database_is_sqlite_or_redis(cls, value: str) -> str:
        if value.startswith(("redis://", "rediss://")):
            return value
        if not value.startswith(SQLITE_PREFIX) or value == SQLITE_PREFIX:
            raise ValueError("must be sqlite:///path/to/file.db or redis://host:port/db")
        return value


class Ack(ClientMessage):
    """The client has shown notification `id`: it is deleted and not sent again."""

    type: Literal["ack"]
    id: Annotated[StrictInt, Field(ge=1, lt=2**63)]


class Acked(ServerMessage):
    type: Literal["acked"] = "acked"
    id: int


NotificationsInbound = Annotated[Ping | Ack, Field(discriminator="type")]
# Notifications reach the socket from the store and the notifier, already serialised.
NotificationsOutbound = Pong | Acked | NotificationMessage


class NotificationsChannel(Channel[NotificationsInbound, NotificationsOutbound]):
    path = "/ws/notifications"
    error_codes = ErrorCodes(unknown_notification="an `ack` for an id that is not pending for you")

    @classmethod
    @asynccontextmanager
    async def lifespan(cls, app: Starlette, services: Services) -> AsyncIterator[None]:
        settings = services.settings
        assert isinstance(settings, NotificationSettings), "config.Settings extends them"
        store = open_store(
            settings.database_url,
            max_pending=settings.notification_max_pending,
            ttl_seconds=settings.notification_ttl,
            write_format=settings.redis_format,
        )
        app.state.notifier = Notifier(store, services.hub)
        try:
            yield
        finally:
            await store.close()

    @property
    def notifier(self) -> Notifier:
        return state_of(self.state, "notifier", Notifier)  # made in `lifespan`

    async def on_connect(self) -> None:
        await self.join(SYSTEM_NOTIFICATIONS)
        # Pending notifications first, oldest first, then new ones as they come: none
        # twice (a notification's id is its place in the user's topic).
        await self.join(notifications_topic(self.user.id), backlog=self.notifier.pending)

    async def on_message(self, message: NotificationsInbound) -> None:
        match message:
            case Ping():
                await self.reply(message, Pong())
            case Ack(id=notification_id):
                if await self.notifier.store.ack(self.user.id, notification_id):
                    await self.reply(message, Acked(id=notification_id))
                else:
                    unknown = f"No pending notification {notification_id}"
                    raise ClientError("unknown_notification", unknown)
