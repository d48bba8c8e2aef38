"""Rooms, `/ws/rooms/{room_id}`: members see each other come and go, and talk in private.

Room ids are 1 to 64 letters, digits, `-`, `_` or `.`; any other is closed with
4400. Binary frames (game moves, whiteboard strokes) are relayed to the other
members, up to MAX_BINARY_FRAME bytes; they are live only, not kept in the
room's history. A client back from a dropped connection adds
`?since=epoch:offset` and gets the messages it missed first.
"""

from datetime import datetime
from typing import Annotated, Literal

from azu_ws import Channel, ClientError, ErrorCodes, Greeting, Ping, Pong, ServerMessage, utc_now
from pydantic import BaseModel, Field, StringConstraints

from ..messages import NewMessage, PostMessage, SetTyping, UserTyping


class RoomMessage(NewMessage):
    """A message said in a room: which room, too."""

    room: str


class RoomTyping(UserTyping):
    room: str


class Joined(Greeting):
    """To a socket that joined a room: who is present now, itself included."""

    type: Literal["joined"] = "joined"
    room: str
    members: list[str]


class UserJoined(ServerMessage):
    type: Literal["user_joined"] = "user_joined"
    room: str
    user: str
    timestamp: datetime = Field(default_factory=utc_now)


class UserLeft(ServerMessage):
    type: Literal["user_left"] = "user_left"
    room: str
    user: str
    timestamp: datetime = Field(default_factory=utc_now)


RoomInbound = Annotated[Ping | PostMessage | SetTyping, Field(discriminator="type")]
RoomOutbound = Joined | UserJoined | UserLeft | Pong | RoomMessage | RoomTyping

MAX_BINARY_FRAME = 64 * 1024
ROOM_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"


class RoomParams(BaseModel):
    room_id: Annotated[str, StringConstraints(pattern=ROOM_ID_PATTERN)]


def room_topic(room_id: str) -> str:
    return f"room:{room_id}"


class RoomChannel(Channel[RoomInbound, RoomOutbound]):
    path = "/ws/rooms/{room_id}"
    error_codes = ErrorCodes(frame_too_large="a binary frame over 64 KiB (MAX_BINARY_FRAME)")
    params_model = RoomParams

    @property
    def room(self) -> str:
        return self.params["room_id"]

    async def authorize(self) -> bool:
        # Example policy: rooms named `private-...` admit only the users whose
        # token lists the room in its `rooms` claim. Edit to taste.
        if not self.room.startswith("private-"):
            return True
        rooms = self.user.claims.get("rooms", [])
        return isinstance(rooms, list) and self.room in rooms

    async def on_connect(self) -> None:
        topic = room_topic(self.room)
        joined_at = await self.join(topic, since=self.since)
        # The farewell is published when the user's last socket here leaves:
        # closed, dropped, or on a worker that died.
        farewell = UserLeft(room=self.room, user=self.user.id)
        arrived = await self.track(topic, farewell=farewell)
        joined = Joined(room=self.room, members=await self.present(topic), **joined_at.greeting)
        await self.push(joined)
        if arrived:  # a second socket of a present user is no news
            await self.broadcast_from(topic, UserJoined(room=self.room, user=self.user.id))

    async def on_message(self, message: RoomInbound) -> None:
        topic, user = room_topic(self.room), self.user.id
        match message:
            case Ping():
                await self.reply(message, Pong())
            case PostMessage(content=content):
                await self.broadcast(topic, RoomMessage(room=self.room, content=content, user=user))
            case SetTyping(is_typing=is_typing):
                typing = RoomTyping(room=self.room, user=user, is_typing=is_typing)
                await self.broadcast(topic, typing)

    async def on_binary(self, data: bytes) -> None:
        if len(data) > MAX_BINARY_FRAME:
            too_large = f"Binary frames in rooms are limited to {MAX_BINARY_FRAME} bytes"
            raise ClientError("frame_too_large", too_large)
        await self.broadcast_from(room_topic(self.room), data)
