"""The messages every channel shares: their bases (tagged by a `Literal` `type`), and what the
runtime itself sends."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, StringConstraints

from .frames import SINCE_PATTERN

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
# Where a client left off in a topic: the `epoch` and `offset` of the last
# message it received from it (or of the greeting, if none came since).
Since = Annotated[str, StringConstraints(pattern=SINCE_PATTERN)]


def utc_now() -> datetime:
    """Now, in UTC: serialised as RFC 3339 (`2026-01-02T03:04:05.678Z`)."""
    return datetime.now(UTC)


def is_none(value: Any) -> bool:
    """For `Field(exclude_if=is_none)`: a field left out of the JSON when it has no value."""
    return value is None


class ClientMessage(BaseModel):
    """Base of every client-to-server message: unknown fields are an error, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ref: Ref | None = None


class ServerMessage(BaseModel):
    """Base of every server-to-client message; `ref` appears only on replies."""

    ref: Ref | None = Field(default=None, exclude_if=is_none)


# --- client to server ---------------------------------------------------------


class Ping(ClientMessage):
    type: Literal["ping"]


class Auth(ClientMessage):
    """A fresh token for this socket, sent before the current one expires.

    Every channel accepts it; the runner handles it, channels never see it.
    """

    type: Literal["auth"]
    token: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TOKEN_LENGTH)]


# --- server to client ---------------------------------------------------------


class Published(ServerMessage):
    """Content published to a topic with history (a room, a resource): where it sits in it.

    The server appends `offset` and `epoch` as it publishes, and keeps the
    message for clients that resume from the last ones they received
    (`since`). Signals of the moment (typing, presence) are not `Published`:
    they are live only, and a greeting carries the state they change.
    """

    offset: int | None = Field(default=None, exclude_if=is_none)
    epoch: str | None = Field(default=None, exclude_if=is_none)


class Greeting(ServerMessage):
    """Sent on joining a topic with history: where it stands (`epoch`, `offset`) and,
    when the client gave `since`, whether what it missed follows (`recovered`)."""

    epoch: str | None = Field(default=None, exclude_if=is_none)
    offset: int | None = Field(default=None, exclude_if=is_none)
    recovered: bool | None = Field(default=None, exclude_if=is_none)


class Connected(Greeting):
    """A channel's greeting: who the socket is, and where its topic stands."""

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


# The codes the runtime itself answers with, on every channel, and what each means. A
# channel adds its own (`Channel.error_codes`); `/asyncapi.json` and `/messages.d.ts`
# list both, per channel.
RUNTIME_ERROR_CODES: dict[str, str] = {
    "invalid_json": "the frame is not JSON",
    "unknown_type": "`type` is not one this channel accepts",
    "invalid_message": "not an object, no `type`, or bad fields (`fields` lists them)",
    "unsupported_frame": "a binary frame on a channel that takes none",
    "rate_limited": "over the rate limit: the message was dropped",
    "too_many_subscriptions": "joining more topics than a socket may",
    "invalid_token": "an `auth` with a bad token, or one for another user",
    "internal_error": "the server failed to handle the message (it logged why)",
}


class FieldError(BaseModel):
    """One invalid field of a client message: where it is, and what is wrong."""

    field: str
    message: str


class ErrorMessage(ServerMessage):
    """The client sent something we could not handle; the connection stays open."""

    type: Literal["error"] = "error"
    # One of the runtime's codes or of the channel's own: `Channel.all_error_codes`.
    code: str
    message: str
    fields: list[FieldError] | None = Field(default=None, exclude_if=is_none)


# What the runner itself may send on any channel, whatever the channel declares.
RUNNER_MESSAGES: tuple[type[ServerMessage], ...] = (Heartbeat, Authenticated, ErrorMessage)
