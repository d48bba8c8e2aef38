"""The test app's channels: the probe (a chat in one topic), its variant that never echoes,
a room with presence, and a user's notifications; CHANNELS lists them for the app."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from azu_ws import (
    SYSTEM_NOTIFICATIONS,
    Channel,
    ClientError,
    ClientMessage,
    Connected,
    ErrorCodes,
    NotificationMessage,
    Notifier,
    Ping,
    Pong,
    ServerMessage,
    Services,
    notifications_topic,
    open_store,
)
from pydantic import Field, StrictInt
from starlette.applications import Starlette

from .config import Settings
from .messages import Joined, NewMessage, PostMessage, UserJoined, UserLeft

ProbeInbound = Annotated[Ping | PostMessage, Field(discriminator="type")]
ProbeOutbound = Connected | Pong | NewMessage
PROBE = "/ws/probe"
# Like the probe, but posts go to everyone else (`broadcast_from`), kept and replayed.
PROBE_OTHERS = "/ws/probe-others"


class ProbeChannel(Channel[ProbeInbound, ProbeOutbound]):
    """Everyone hears every post, kept for resuming; binary frames go to the others."""

    path = PROBE
    topic = "probe"

    async def on_connect(self) -> None:
        joined_at = await self.join(self.topic, since=self.since)
        connected = Connected(message=self.topic, user=self.user.id, **joined_at.greeting)
        await self.push(connected)

    async def on_message(self, message: ProbeInbound) -> None:
        match message:
            case Ping():
                await self.reply(message, Pong())
            case PostMessage(content=content):
                await self.post(NewMessage(content=content, user=self.user.id))

    async def post(self, message: NewMessage) -> None:
        await self.broadcast(self.topic, message)

    async def on_binary(self, data: bytes) -> None:
        await self.broadcast_from(self.topic, data)


class OthersProbeChannel(ProbeChannel):
    path = PROBE_OTHERS
    topic = "others"

    async def post(self, message: NewMessage) -> None:
        await self.broadcast_from(self.topic, message)


RoomInbound = Annotated[Ping | PostMessage, Field(discriminator="type")]
RoomOutbound = Joined | UserJoined | UserLeft | Pong | NewMessage


class RoomChannel(Channel[RoomInbound, RoomOutbound]):
    """Members see who is present, and each other come and go, on any worker."""

    path = "/ws/rooms/{room}"

    async def on_connect(self) -> None:
        topic = f"room:{self.params['room']}"
        await self.join(topic)
        arrived = await self.track(topic, farewell=UserLeft(user=self.user.id))
        await self.push(Joined(members=await self.present(topic)))
        if arrived:  # a second socket of a present user is no news
            await self.broadcast_from(topic, UserJoined(user=self.user.id))

    async def on_message(self, message: RoomInbound) -> None:
        match message:
            case Ping():
                await self.reply(message, Pong())
            case PostMessage(content=content):
                topic = f"room:{self.params['room']}"
                await self.broadcast(topic, NewMessage(content=content, user=self.user.id))


class Ack(ClientMessage):
    type: Literal["ack"]
    id: Annotated[StrictInt, Field(ge=1, lt=2**63)]


class Acked(ServerMessage):
    type: Literal["acked"] = "acked"
    id: int


NotificationsInbound = Annotated[Ping | Ack, Field(discriminator="type")]
NotificationsOutbound = Pong | Acked | NotificationMessage


class NotificationsChannel(Channel[NotificationsInbound, NotificationsOutbound]):
    """A user's notifications, pending ones first, each until acknowledged."""

    path = "/ws/notifications"
    error_codes = ErrorCodes(unknown_notification="an `ack` for an id that is not pending for you")

    @classmethod
    @asynccontextmanager
    async def lifespan(cls, app: Starlette, services: Services) -> AsyncIterator[None]:
        settings = services.settings
        assert isinstance(settings, Settings), "the test app's settings"
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
        notifier: Notifier = self.state.notifier
        return notifier

    async def on_connect(self) -> None:
        await self.join(SYSTEM_NOTIFICATIONS)
        await self.join(notifications_topic(self.user.id), backlog=self.notifier.pending)

    async def on_message(self, message: NotificationsInbound) -> None:
        match message:
            case Ping():
                await self.reply(message, Pong())
            case Ack(id=notification_id):
                if not await self.notifier.store.ack(self.user.id, notification_id):
                    unknown = f"No pending notification {notification_id}"
                    raise ClientError("unknown_notification", unknown)
                await self.reply(message, Acked(id=notification_id))


CHANNELS: list[type[Channel[Any, Any]]] = [
    ProbeChannel,
    OthersProbeChannel,
    RoomChannel,
    NotificationsChannel,
]
