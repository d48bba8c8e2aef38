"""The `Channel` base class: one subclass per websocket path, hooks with no-op defaults."""

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from types import UnionType
from typing import (
    TYPE_CHECKING,
    Annotated,
    Any,
    ClassVar,
    Generic,
    TypeVar,
    Union,
    get_args,
    get_origin,
)

from pydantic import BaseModel, Field, TypeAdapter
from starlette.applications import Starlette
from starlette.datastructures import State

from . import metrics
from .auth import User
from .catchup import Backlog, JoinedAt
from .connection import Connection
from .errors import ErrorCodes, UndeclaredErrorCode, check_error_codes
from .frames import Position
from .hub import ALL_TOPIC, user_topic
from .messages import (
    RUNNER_MESSAGES,
    RUNTIME_ERROR_CODES,
    Auth,
    ClientMessage,
    ErrorMessage,
    ServerMessage,
)

if TYPE_CHECKING:
    from .services import Services

InboundT = TypeVar("InboundT")
OutboundT = TypeVar("OutboundT", bound=ServerMessage)


class Channel(Generic[InboundT, OutboundT]):
    """A websocket endpoint made of hooks, parameterised by the messages it accepts and sends.

    Declaring a channel
    -------------------
    Subclass with the union of client messages it accepts and the union of
    server messages it sends, set `path`, and add the class to `CHANNELS` in
    the app's `channels/__init__.py`::

        Inbound = Annotated[Ping | PostMessage, Field(discriminator="type")]
        Outbound = Pong | NewMessage

        class ChatChannel(Channel[Inbound, Outbound]):
            path = "/ws/chat"

    The two unions are the channel's contract: mypy refuses a `push` or a
    `broadcast` of a message the channel did not declare (an `error` is
    always allowed), and `/asyncapi.json` and the TypeScript types are made
    from them. The runner's own messages (`heartbeat`, `authenticated`,
    `error`) go to every channel and need no declaring.

    Path parameters (`/ws/games/{game_id}`) are in `self.params`. Set
    `params_model` to a Pydantic model to validate them first: a handshake
    whose parameters fail it is closed with 4400 before any hook runs.

    Lifecycle
    ---------
    The runner authenticates the handshake, accepts, and then calls
    `on_connect()`; then `on_message()` or `on_binary()` for each frame; and
    `on_close(code, reason)` exactly once, however the socket ends (the client
    closed, the network dropped, a hook raised). After `on_close` the runner
    removes the connection from every topic it joined. Each hook defaults to
    doing nothing; override only the ones you need::

        async def on_connect(self) -> None:
            await self.join("lobby")

    Receiving
    ---------
    Text frames are validated against the channel's union before `on_message`
    sees them, so the argument is already the right model; `match` on it::

        async def on_message(self, message: Inbound) -> None:
            match message:
                case Ping():
                    await self.reply(message, Pong())

    A frame that is not JSON, has an unknown `type`, or has bad fields never
    reaches `on_message`: the client gets an `error` message naming the problem
    and the connection stays open. Binary frames go to `on_binary(data)`.

    Reply vs push vs broadcast
    --------------------------
    - `reply(request, message)`: to this client, echoing the request's `ref`.
    - `push(message)`: to this client, unprompted.
    - `broadcast(topic, message)`: to every socket that joined `topic`, in
      every process, this one included if it joined.
    - `broadcast_from(topic, message)`: the same, except this socket.
    - `send_to_user(user_id, message)`: to every socket of one user.
    - `broadcast_to_all(message)`: to every connected socket.

    Each message is serialised once and queued for each recipient without
    waiting: no verb ever blocks on another client's socket.

    Groups and presence
    -------------------
    A group is a topic: `await self.join(f"game:{game_id}")`, then broadcast
    to it. Every topic is left automatically when the socket closes.

    History and resuming
    --------------------
    Every topic but a socket's own (`user:`, `all`) and those declared with
    `services.hub.keep_no_history(prefix)` (the notifier's, cursors...) keeps
    its last HISTORY_SIZE `Published` messages (posts, edits, moves), each
    stamped with `offset` and `epoch`; typing and presence are live only.
    A client back from a dropped connection says where it left off, in
    `?since=epoch:offset` (in `self.since`) or in a message of the channel's
    own; `join(topic, since=...)` replays what it missed, then goes live,
    with no gap and no duplicate. It returns where the topic stands and
    whether the replay is complete (`recovered`): put them in the greeting.
    The topic's messages, the replayed ones first, follow whatever the hook
    pushes after `join`, once it returns::

        joined_at = await self.join("lobby", since=self.since)
        await self.push(Joined(..., **joined_at.greeting))

    Binary frames are live only too. A replay skips what the client sent with
    `broadcast_from` when it names its session (`?session=`, as azu-ws.js does).
    `track(topic, farewell=...)` marks this user present and says whether
    they just arrived (their first socket there); `present(topic)` lists who
    is there, in every process. The farewell is what the others hear when the
    user's last socket leaves: it is published when the socket closes (or on
    `untrack(topic)`), and, with Redis, when the process holding it dies::

        if await self.track(topic, farewell=UserLeft(room=room, user=self.user.id)):
            await self.broadcast_from(topic, UserJoined(room=room, user=self.user.id))

    Refusing a connection
    ---------------------
    Unauthenticated handshakes never reach a channel: they are accepted and
    closed at once with 4401. A channel refuses an authenticated client by
    returning False from `authorize`, which runs before `on_connect`; the
    socket is closed with 4403::

        async def authorize(self) -> bool:
            return self.user.id != "mallory"

    From any hook, `await self.close(code, reason)` ends the connection.

    Errors and close codes
    ----------------------
    To refuse one message and keep the socket, raise `ClientError(code, message)`
    in `on_message` or `on_binary`: the client gets `{"type": "error", "code": ...}`
    with the request's `ref`. Besides the runtime's codes (`invalid_message`...),
    a channel sends those it declares, each with what it means; `/asyncapi.json`
    and `/messages.d.ts` list them for this channel, and an undeclared one is a
    bug, answered as such::

        error_codes = ErrorCodes(no_such_game="the game asked for does not exist")

        raise ClientError("no_such_game", f"No game {name!r}")

    Any other exception in `on_message` or `on_binary` is logged and the client
    gets `{"type": "error", "code": "internal_error", ...}`; the connection stays
    open. An exception in `on_connect` closes the socket with 1011. `docs/protocol.md`
    lists every close code.
    """

    path: ClassVar[str]
    params_model: ClassVar[type[BaseModel] | None] = None
    inbound: ClassVar[TypeAdapter[Any]]
    # The message models of each direction, `auth` and the runner's own included.
    accepts: ClassVar[tuple[type[ClientMessage], ...]]
    sends: ClassVar[tuple[type[ServerMessage], ...]]
    # The error codes of this channel's own: code -> what it means, in one line.
    error_codes: ClassVar[Mapping[str, str]] = ErrorCodes()
    # Every code it may send: the runtime's, then its own.
    all_error_codes: ClassVar[Mapping[str, str]] = RUNTIME_ERROR_CODES

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        check_error_codes(cls.__name__, cls.error_codes)
        cls.all_error_codes = {**RUNTIME_ERROR_CODES, **cls.error_codes}
        # Build the validator once, at import, from the `Channel[...]` parameters.
        for base in getattr(cls, "__orig_bases__", ()):
            if get_origin(base) is Channel:
                inbound, outbound = get_args(base)
                cls.accepts = (*_members(inbound), Auth)
                cls.inbound = TypeAdapter(_tagged_union(cls.accepts))
                cls.sends = tuple(dict.fromkeys((*_members(outbound), *RUNNER_MESSAGES)))

    def __init__(
        self,
        connection: Connection,
        services: "Services",
        state: State,
        params: dict[str, str],
        since: Position | None = None,
    ) -> None:
        self.connection = connection
        # What channels made for the app's lifetime (`lifespan`), on `app.state`.
        self.state = state
        self.user: User = connection.user
        self.params = params
        # Where the client left off, from `?since=epoch:offset` (checked at the handshake).
        self.since = since
        self.services = services
        self.hub = services.hub

    # --- hooks ----------------------------------------------------------------

    @classmethod
    def lifespan(cls, app: Starlette, services: "Services") -> AbstractAsyncContextManager[None]:
        """Override to make what this channel needs beside the runtime (a store, a
        publisher) for the app's lifetime: hang it on `app.state`, which hooks see as
        `self.state` and HTTP routes as `request.app.state`."""
        return nullcontext()

    async def authorize(self) -> bool:
        """Override to refuse this user (closed with 4403); runs before `on_connect`."""
        return True

    async def on_connect(self) -> None:
        """Override to greet the client or join topics; runs once, after authentication."""

    async def on_message(self, message: InboundT) -> None:
        """Override to handle one validated client message."""

    async def on_binary(self, data: bytes) -> None:
        """Override to accept binary frames; by default they are answered with an error."""
        await self.push(
            ErrorMessage(
                code="unsupported_frame", message="This channel does not accept binary frames"
            )
        )

    async def on_close(self, code: int, reason: str) -> None:
        """Override to clean up; runs exactly once, however the socket ended."""

    # --- verbs ----------------------------------------------------------------

    async def push(self, message: OutboundT | ErrorMessage) -> None:
        """Send `message` to this client."""
        if isinstance(message, ErrorMessage) and message.code not in self.all_error_codes:
            raise UndeclaredErrorCode(
                f"{type(self).__name__} sent the error code {message.code!r}: "
                "declare it in its `error_codes`, with what it means"
            )
        self._count(message)
        self.connection.send_frame(message.model_dump_json())

    async def reply(self, request: ClientMessage, message: OutboundT | ErrorMessage) -> None:
        """Send `message` to this client as the answer to `request`, echoing its `ref`."""
        if request.ref is not None:
            message = message.model_copy(update={"ref": request.ref})
        await self.push(message)

    async def broadcast(self, topic: str, message: OutboundT | bytes) -> None:
        """Send `message` (or a binary frame) to every socket on `topic`, in every process."""
        self._count(message)
        await self.hub.publish(topic, message)

    async def broadcast_from(self, topic: str, message: OutboundT | bytes) -> None:
        """Send `message` (or a binary frame) to every socket on `topic` but this one."""
        self._count(message)
        await self.hub.publish(topic, message, exclude=self.connection)

    async def send_to_user(self, user_id: str, message: OutboundT) -> None:
        """Send `message` to every socket of `user_id`, in every process."""
        self._count(message)
        await self.hub.publish(user_topic(user_id), message)

    async def broadcast_to_all(self, message: OutboundT) -> None:
        """Send `message` to every connected socket, in every process."""
        self._count(message)
        await self.hub.publish(ALL_TOPIC, message)

    async def join(
        self, topic: str, since: Position | None = None, *, backlog: Backlog | None = None
    ) -> JoinedAt:
        """Receive what is broadcast to `topic` until `leave` or the socket closes.

        Given `since` (where the client left off), what it missed is replayed
        first; `backlog` reads it from a store of the topic's own instead of its
        history (pending notifications). The topic's messages reach the client
        once this hook returns, after what it pushes: returns where the topic
        stands, for the greeting.
        """
        return await self.hub.join(self.connection, topic, since, backlog)

    def has_joined(self, topic: str) -> bool:
        """True if this socket receives `topic`: it joined, and has not left."""
        return topic in self.connection.topics

    async def leave(self, topic: str) -> None:
        """Stop receiving `topic`."""
        await self.hub.leave(self.connection, topic)

    async def track(self, topic: str, farewell: OutboundT | None = None) -> bool:
        """Mark this user present on `topic`; True if this is their first socket there.

        `farewell` goes to `topic` when the user's last socket there leaves,
        whether it closes, untracks, or its process dies.
        """
        return await self.hub.track(self.connection, topic, farewell)

    async def untrack(self, topic: str) -> bool:
        """Withdraw this socket's presence; True (and the farewell sent) if it was the
        user's last one there."""
        return await self.hub.untrack(self.connection, topic)

    async def present(self, topic: str) -> list[str]:
        """The users present on `topic`, in every process, sorted."""
        return await self.hub.presence.members(topic)

    async def close(self, code: int, reason: str = "") -> None:
        """Close this socket with `code` once what was queued before has been sent."""
        self.connection.close(code, reason)
        await self.connection.wait_closed()

    def _count(self, message: ServerMessage | bytes) -> None:
        kind = "binary" if isinstance(message, bytes) else getattr(message, "type", "other")
        metrics.counter_for(metrics.MESSAGES_SENT, self.path, kind).inc()
        if isinstance(message, ErrorMessage):
            metrics.ERRORS.labels(self.path, message.code).inc()


def _tagged_union(members: tuple[Any, ...]) -> Any:
    """`A | B | ...`, told apart by their `type` field in one pass."""
    return Annotated[Union[members], Field(discriminator="type")]  # noqa: UP007


def _members(union: Any) -> tuple[Any, ...]:
    """The models of a union (`Annotated` or not), or the one model given."""
    if get_origin(union) is Annotated:
        union = get_args(union)[0]
    return get_args(union) if get_origin(union) in (Union, UnionType) else (union,)
