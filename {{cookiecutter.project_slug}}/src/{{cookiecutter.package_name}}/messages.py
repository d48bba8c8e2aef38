"""The typed messages of the protocol: what clients send, and what the server sends back.

Every model is tagged by a `Literal` `type`, so a union of them validates a raw
frame in one pass and a `match` statement picks the handler.
"""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, StringConstraints

from .core.history import SINCE_PATTERN

MAX_CONTENT_LENGTH = 4000
MAX_REF_LENGTH = 64
MAX_TOKEN_LENGTH = 4096

# The integers JavaScript holds exactly: a larger ref would come back as another number.
MAX_SAFE_INTEGER = 2**53 - 1

# A client's correlation id: echoed on the reply so the client can match them.
# Strict, so that the echo is what was sent (`true` is not the ref 1).
Ref = (
    Annotated[StrictStr, StringConstraints(max_length=MAX_REF_LENGTH)]
    | Annotated[StrictInt, Field(ge=-MAX_SAFE_INTEGER, le=MAX_SAFE_INTEGER)]
)
# A live-update resource: its kind (`post`), and which one (42 or "a1b2").
ResourceName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
ResourceId = (
    Annotated[StrictStr, StringConstraints(min_length=1, max_length=64)]
    | Annotated[StrictInt, Field(ge=-(2**63), lt=2**63)]
)
# Where a client left off in a topic: the `epoch` and `offset` of the last
# message it received from it (or of the greeting, if none came since).
Since = Annotated[str, StringConstraints(pattern=SINCE_PATTERN)]


def utc_now() -> datetime:
    """Now, in UTC: serialised as RFC 3339 (`2026-01-02T03:04:05.678Z`)."""
    return datetime.now(UTC)


def _is_none(value: Any) -> bool:
    return value is None


class ClientMessage(BaseModel):
    """Base of every client-to-server message: unknown fields are an error, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ref: Ref | None = None


class ServerMessage(BaseModel):
    """Base of every server-to-client message; `ref` appears only on replies."""

    ref: Ref | None = Field(default=None, exclude_if=_is_none)


# --- client to server ---------------------------------------------------------


class Ping(ClientMessage):
    type: Literal["ping"]


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


class Auth(ClientMessage):
    """A fresh token for this socket, sent before the current one expires.

    Every channel accepts it; the runner handles it, channels never see it.
    """

    type: Literal["auth"]
    token: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TOKEN_LENGTH)]


class Ack(ClientMessage):
    """The client has shown notification `id`: it is deleted and not sent again."""

    type: Literal["ack"]
    id: Annotated[StrictInt, Field(ge=1, lt=2**63)]


# Every message a client may send. A channel accepts the subset it names.
AnyClientMessage = Annotated[
    Ping | PostMessage | SetTyping | Subscribe | Unsubscribe | Ack, Field(discriminator="type")
]


# --- server to client ---------------------------------------------------------


class Published(ServerMessage):
    """Content published to a topic with history (a room, a resource): where it sits in it.

    The server appends `offset` and `epoch` as it publishes, and keeps the
    message for clients that resume from the last ones they received
    (`since`). Signals of the moment (typing, presence) are not `Published`:
    they are live only, and a greeting carries the state they change.
    """

    offset: int | None = Field(default=None, exclude_if=_is_none)
    epoch: str | None = Field(default=None, exclude_if=_is_none)


class Greeting(ServerMessage):
    """Sent on joining a topic with history: where it stands (`epoch`, `offset`) and,
    when the client gave `since`, whether what it missed follows (`recovered`)."""

    epoch: str | None = Field(default=None, exclude_if=_is_none)
    offset: int | None = Field(default=None, exclude_if=_is_none)
    recovered: bool | None = Field(default=None, exclude_if=_is_none)


class Connected(Greeting):
    type: Literal["connected"] = "connected"
    message: str
    user: str
    timestamp: datetime = Field(default_factory=utc_now)


class Heartbeat(ServerMessage):
    """Sent after WS_PING_INTERVAL seconds of silence: answer with any frame (a `ping`)."""

    type: Literal["heartbeat"] = "heartbeat"


class Authenticated(ServerMessage):
    """The socket now runs on the fresh token of an `auth` message, until `expires_at`."""

    type: Literal["authenticated"] = "authenticated"
    expires_at: datetime | None


class Pong(ServerMessage):
    type: Literal["pong"] = "pong"
    timestamp: datetime = Field(default_factory=utc_now)


class NewMessage(Published):
    type: Literal["message"] = "message"
    room: str | None = Field(default=None, exclude_if=_is_none)
    content: str
    user: str
    timestamp: datetime = Field(default_factory=utc_now)


class UserTyping(ServerMessage):
    type: Literal["typing"] = "typing"
    room: str | None = Field(default=None, exclude_if=_is_none)
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


class NotificationMessage(ServerMessage):
    """A user's notification (with an `id` to acknowledge) or a system one (without)."""

    type: Literal["notification"] = "notification"
    id: int | None
    kind: Literal["user", "system"]
    payload: dict[str, Any]
    timestamp: datetime

    @classmethod
    def for_user(
        cls, notification_id: int, payload: dict[str, Any], created_at: float
    ) -> "NotificationMessage":
        timestamp = datetime.fromtimestamp(created_at, UTC)
        return cls(id=notification_id, kind="user", payload=payload, timestamp=timestamp)

    @classmethod
    def for_system(cls, payload: dict[str, Any]) -> "NotificationMessage":
        return cls(id=None, kind="system", payload=payload, timestamp=utc_now())


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


ErrorCode = Literal[
    "invalid_json",
    "unknown_type",
    "invalid_message",
    "unsupported_frame",
    "frame_too_large",
    "rate_limited",
    "forbidden",
    "unknown_resource",
    "not_subscribed",
    "too_many_subscriptions",
    "unknown_notification",
    "invalid_token",
    "internal_error",
]


class FieldError(BaseModel):
    """One invalid field of a client message: where it is, and what is wrong."""

    field: str
    message: str


class ErrorMessage(ServerMessage):
    """The client sent something we could not handle; the connection stays open."""

    type: Literal["error"] = "error"
    code: ErrorCode
    message: str
    fields: list[FieldError] | None = Field(default=None, exclude_if=_is_none)


# What the runner itself may send on any channel, whatever the channel declares.
RUNNER_MESSAGES: tuple[type[ServerMessage], ...] = (Heartbeat, Authenticated, ErrorMessage)
