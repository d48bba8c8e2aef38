"""The typed messages of the protocol: what clients send, and what the server sends back.

Every model is tagged by a `Literal` `type`, so a union of them validates a raw
frame in one pass and a `match` statement picks the handler.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from azu_ws import ClientMessage, Greeting, Ping, Published, ServerMessage, Since, is_none, utc_now
from pydantic import Field, StrictInt, StrictStr, StringConstraints

MAX_CONTENT_LENGTH = 4000


# A live-update resource: its kind (`post`), and which one (42 or "a1b2").
ResourceName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
ResourceId = (
    Annotated[StrictStr, StringConstraints(min_length=1, max_length=64)]
    | Annotated[StrictInt, Field(ge=-(2**63), lt=2**63)]
)


# --- client to server ---------------------------------------------------------


class PostMessage(ClientMessage):
    type: Literal["message"]
    content: Annotated[str, StringConstraints(min_length=1, max_length=MAX_CONTENT_LENGTH)]


class SetTyping(ClientMessage):
    type: Literal["typing"]
    is_typing: bool


class Subscribe(ClientMessage):
    """Subscribe to a resource; with `since` (`epoch:offset`), get what was missed first."""

    type: Literal["subscribe"]
    resource: ResourceName
    id: ResourceId
    since: Since | None = None


class Unsubscribe(ClientMessage):
    type: Literal["unsubscribe"]
    resource: ResourceName
    id: ResourceId


class Ack(ClientMessage):
    """The client has shown notification `id`: it is deleted and not sent again."""

    type: Literal["ack"]
    id: Annotated[StrictInt, Field(ge=1, lt=2**63)]


# Every message a client may send. A channel accepts the subset it names.
AnyClientMessage = Annotated[
    Ping | PostMessage | SetTyping | Subscribe | Unsubscribe | Ack, Field(discriminator="type")
]


# --- server to client ---------------------------------------------------------


class Connected(Greeting):
    type: Literal["connected"] = "connected"
    message: str
    user: str
    timestamp: datetime = Field(default_factory=utc_now)


class NewMessage(Published):
    type: Literal["message"] = "message"
    room: str | None = Field(default=None, exclude_if=is_none)
    content: str
    user: str
    timestamp: datetime = Field(default_factory=utc_now)


class UserTyping(ServerMessage):
    type: Literal["typing"] = "typing"
    room: str | None = Field(default=None, exclude_if=is_none)
    user: str
    is_typing: bool
    timestamp: datetime = Field(default_factory=utc_now)


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


class Acked(ServerMessage):
    type: Literal["acked"] = "acked"
    id: int


class Subscribed(Greeting):
    type: Literal["subscribed"] = "subscribed"
    resource: str
    id: ResourceId


class Unsubscribed(ServerMessage):
    type: Literal["unsubscribed"] = "unsubscribed"
    resource: str
    id: ResourceId


class Update(Published):
    """A change to a resource, sent to its subscribers only."""

    type: Literal["update"] = "update"
    resource: str
    id: ResourceId
    data: dict[str, Any]
    timestamp: datetime = Field(default_factory=utc_now)
