"""A channel's socket as its tests speak to it: typed messages both ways, one clear failure.

Phoenix's `ChannelCase` in Python. `expect(NewMessage)` is `assert_push`: the
next message must be a `NewMessage`, and mypy knows it is one; anything else
fails with what came instead. `request(Ping(), Pong)` is `assert_reply`: the
reply carrying the request's `ref`. `expect_error("rate_limited")` and
`expect_closed(4401)` say the rest. Every wait ends within `timeout` seconds.

The same client speaks to the app in a TestClient (`open_channel`) and to a
served app over real sockets (`served_channel`, for end-to-end tests, services
and bots), answering heartbeats and resuming from where it left off.
"""

import itertools
import json
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.testclient import TestClient, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from ..channel import Channel, InboundT, OutboundT, _tagged_union
from ..messages import Auth, Authenticated, ErrorMessage, Heartbeat, Ping, Pong, ServerMessage

M = TypeVar("M", bound=ServerMessage)
WAIT = 5.0  # seconds any one message may take
# How much of an unexpected frame a failure quotes.
QUOTED = 500
# Close codes after which a served client resumes by itself: the server went
# away (a deploy), restarted, or lost messages and asks the client to resume.
RESUMABLE = frozenset({1001, 1006, 1012})


class Closed(Exception):
    """The server closed the socket: its close code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"closed with {code} {reason!r}".rstrip())
        self.code, self.reason = code, reason


class Wire(Protocol):
    """One open socket, as the client reads and writes it."""

    def send(self, frame: str | bytes) -> None: ...
    def receive(self, timeout: float) -> str | bytes:
        """The next frame; Closed once the server closed; TimeoutError after `timeout`."""
        ...

    def close(self, code: int = 1000) -> None: ...


class ChannelClient(Generic[InboundT, OutboundT]):
    """One socket of `channel`: send its inbound models, receive its outbound ones."""

    def __init__(
        self, wire: Wire, channel: type[Channel[InboundT, OutboundT]], *, timeout: float = WAIT
    ) -> None:
        self.wire = wire
        self.channel = channel
        self.timeout = timeout
        self._outbound = outbound_of(channel)
        self._refs = itertools.count(1)
        # Our own pings, answering heartbeats: their pongs are not the test's.
        self._heartbeat_refs: set[int] = set()
        # Messages that came while `request` waited for its reply, oldest first.
        self._early: deque[str] = deque()
        # The last place this socket reached in its topic's history: `epoch:offset`.
        self.since: str | None = None

    # --- sending ----------------------------------------------------------------

    def send(self, message: InboundT | Auth) -> None:
        """Send one of the channel's inbound messages (or an `auth`, which every channel takes)."""
        self.wire.send(_as_model(message).model_dump_json(exclude_none=True))

    def send_bytes(self, data: bytes) -> None:
        self.wire.send(data)

    def send_raw(self, frame: str) -> None:
        """Send `frame` as it is: what no model would write (a forged field, a bad type)."""
        self.wire.send(frame)

    def request(self, message: InboundT, kind: type[M]) -> M:
        """Send `message` with a fresh `ref` and return the reply carrying it, a `kind`.

        Whatever else comes meanwhile is kept, in order, for the next `receive`.
        """
        return self._request(_as_model(message), kind)

    def _request(self, message: BaseModel, kind: type[M]) -> M:
        ref = next(self._refs)
        self.wire.send(message.model_copy(update={"ref": ref}).model_dump_json(exclude_none=True))
        skipped: list[str] = []
        while True:
            text = self._next_text(f"the reply to ref {ref}")
            if json.loads(text).get("ref") == ref:
                self._early.extend(skipped)
                return self._as(kind, text)
            skipped.append(text)

    # --- receiving --------------------------------------------------------------

    def receive(self) -> OutboundT | ErrorMessage | Authenticated | Heartbeat:
        """The next message, parsed as the channel's outbound union."""
        text = self._early.popleft() if self._early else self._next_text("a message")
        message: OutboundT | ErrorMessage | Authenticated | Heartbeat = self._parse(text)
        return message

    def expect(self, kind: type[M]) -> M:
        """The next message, which must be a `kind` (assert_push)."""
        text = self._early.popleft() if self._early else self._next_text(kind.__name__)
        return self._as(kind, text)

    def expect_error(self, code: str) -> ErrorMessage:
        """The next message, which must be an error with `code`."""
        error = self.expect(ErrorMessage)
        assert error.code == code, f"{self._where()}: expected error {code!r}, got {error!r}"
        return error

    def expect_bytes(self) -> bytes:
        """The next frame, which must be binary."""
        frame = self._next_frame("a binary frame")
        assert isinstance(frame, bytes), f"{self._where()}: expected binary, got {frame[:QUOTED]}"
        return frame

    def expect_closed(self, code: int | None = None) -> tuple[int, str]:
        """Read until the server closes; its code (which must be `code`, if given) and reason."""
        while True:
            try:
                self._next_frame(f"a close{f' with {code}' if code else ''}", closing=True)
            except Closed as closed:
                got = closed.code, closed.reason
                break
        assert code is None or got[0] == code, f"{self._where()}: expected close {code}, got {got}"
        return got

    def expect_quiet(self) -> None:
        """Nothing is on its way: a ping's pong is the very next message (needs `ping`)."""
        self._request(Ping(type="ping"), Pong)
        assert not self._early, f"{self._where()}: came before the pong: {list(self._early)}"

    def close(self, code: int = 1000) -> None:
        """Close the socket with `code`, as a client going away does."""
        self.wire.close(code)

    # --- parsing ----------------------------------------------------------------

    def _next_text(self, wanted: str) -> str:
        frame = self._next_frame(wanted)
        assert isinstance(frame, str), f"{self._where()}: expected {wanted}, got binary"
        return frame

    def _next_frame(self, wanted: str, *, closing: bool = False) -> str | bytes:
        """The next frame for the test: heartbeats are answered and their pongs dropped.

        Closed only when `closing`; otherwise a close fails the test as what came instead.
        """
        deadline = time.monotonic() + self.timeout  # heartbeats meanwhile do not extend it
        while True:
            try:
                frame = self.wire.receive(max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise AssertionError(
                    f"{self._where()}: expected {wanted}, nothing came within {self.timeout} s"
                ) from None
            except Closed as closed:
                if closing:
                    raise
                raise AssertionError(f"{self._where()}: expected {wanted}, {closed}") from None
            if isinstance(frame, bytes):
                return frame
            kind, ref, position = _peek(frame)
            if kind == "heartbeat" and Ping in self.channel.accepts:
                self._answer_heartbeat()
                continue
            if kind == "pong" and ref in self._heartbeat_refs:
                self._heartbeat_refs.discard(ref)
                continue
            if position is not None:
                self.since = position
            return frame

    def _answer_heartbeat(self) -> None:
        ref = next(self._refs)
        self._heartbeat_refs.add(ref)
        self.wire.send(json.dumps({"type": "ping", "ref": ref}))

    def _parse(self, text: str) -> Any:
        try:
            return self._outbound.validate_json(text)
        except ValidationError as exc:
            raise AssertionError(
                f"{self._where()}: a message outside the channel's union: {text[:QUOTED]}\n{exc}"
            ) from None

    def _as(self, kind: type[M], text: str) -> M:
        message = self._parse(text)
        if not isinstance(message, kind):
            raise AssertionError(f"{self._where()}: expected {kind.__name__}, got {text[:QUOTED]}")
        return message

    def _where(self) -> str:
        return self.channel.path


def outbound_of(channel: type[Channel[Any, Any]]) -> TypeAdapter[Any]:
    """What `channel` may send, its runner's messages included, as one validator."""
    adapter = _OUTBOUND.get(channel)
    if adapter is None:
        adapter = _OUTBOUND[channel] = TypeAdapter(_tagged_union(channel.sends))
    return adapter


_OUTBOUND: dict[type[Channel[Any, Any]], TypeAdapter[Any]] = {}


def _as_model(message: object) -> BaseModel:
    assert isinstance(message, BaseModel), f"send a message model, not {message!r}"
    return message


def _peek(text: str) -> tuple[Any, Any, str | None]:
    """A frame's `type`, `ref` and history position (`epoch:offset`), if it has one."""
    try:
        frame = json.loads(text)
    except ValueError:
        return None, None, None
    if not isinstance(frame, dict):
        return None, None, None
    epoch, offset = frame.get("epoch"), frame.get("offset")
    position = f"{epoch}:{offset}" if epoch is not None and offset is not None else None
    return frame.get("type"), frame.get("ref"), position


def channel_path(channel: type[Channel[Any, Any]], params: Mapping[str, str]) -> str:
    """`channel.path` with its parameters filled in: `/ws/games/{game_id}` -> `/ws/games/g1`."""
    return channel.path.format_map({name: quote(value, safe="") for name, value in params.items()})


# --- in a TestClient -------------------------------------------------------------


class _TestClientWire:
    """A TestClient socket read by a thread of its own into a queue: the session's
    receive has no timeout, and a wait that times out must not lose the next frame."""

    def __init__(self, session: WebSocketTestSession) -> None:
        self.session = session
        self._frames: queue.Queue[Any] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        while True:
            try:
                message = self.session.receive()
            except BaseException as exc:  # the session ended under the reader
                self._frames.put(exc)
                return
            self._frames.put(message)
            if message["type"] == "websocket.close":
                return

    def send(self, frame: str | bytes) -> None:
        if isinstance(frame, str):
            self.session.send_text(frame)
        else:
            self.session.send_bytes(frame)

    def receive(self, timeout: float) -> str | bytes:
        try:
            message = self._frames.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError from None
        if isinstance(message, BaseException):
            self._frames.put(message)  # and again for every later read
            raise message
        if message["type"] == "websocket.close":
            self._frames.put(message)
            raise Closed(message.get("code", 1000), message.get("reason") or "")
        frame: str | bytes = (
            message["text"] if message.get("text") is not None else message["bytes"]
        )
        return frame

    def close(self, code: int = 1000) -> None:
        self.session.close(code)


@contextmanager
def open_channel(
    client: TestClient,
    channel: type[Channel[InboundT, OutboundT]],
    token: str,
    *,
    query: str = "",
    timeout: float = WAIT,
    **params: str,
) -> Iterator[ChannelClient[InboundT, OutboundT]]:
    """A socket of `channel` in `client`'s app, as the holder of `token`.

    `params` fill the channel's path (`game_id="g1"`); `query` is added as
    is (`since=...`).
    """
    url = channel_path(channel, params) + (f"?{query}" if query else "")
    headers = {"authorization": f"Bearer {token}"}
    try:
        opened = client.websocket_connect(url, headers=headers)
        session = opened.__enter__()
    except WebSocketDisconnect as refused:  # closed before the upgrade: `expect_closed` says so
        yield ChannelClient(_RefusedWire(refused.code, refused.reason), channel, timeout=timeout)
        return
    try:
        yield ChannelClient(_TestClientWire(session), channel, timeout=timeout)
    finally:
        opened.__exit__(None, None, None)


class _RefusedWire:
    """A handshake the server refused: its close is all there is to read."""

    def __init__(self, code: int, reason: str) -> None:
        self.closed = Closed(code, reason)

    def send(self, frame: str | bytes) -> None:
        raise self.closed

    def receive(self, timeout: float) -> str | bytes:
        raise self.closed

    def close(self, code: int = 1000) -> None:
        pass


class Join(Protocol):
    """`join(ScoresChannel, "alice")`, `join(GameChannel, "bob", game_id="g1")`: a socket of
    the channel as that user, for a `with` block (a fixture gives it: `joiner`)."""

    def __call__(
        self,
        channel: type[Channel[InboundT, OutboundT]],
        user: str = "alice",
        *,
        query: str = "",
        timeout: float = WAIT,
        **params: str,
    ) -> AbstractContextManager[ChannelClient[InboundT, OutboundT]]: ...


def joiner(client: TestClient, token_for: Callable[[str], str]) -> Join:
    """`join` for `client`'s app, each user signed in with `token_for(user)`."""

    def join(
        channel: type[Channel[InboundT, OutboundT]],
        user: str = "alice",
        *,
        query: str = "",
        timeout: float = WAIT,
        **params: str,
    ) -> AbstractContextManager[ChannelClient[InboundT, OutboundT]]:
        return open_channel(
            client, channel, token_for(user), query=query, timeout=timeout, **params
        )

    return join


# --- over real sockets -----------------------------------------------------------


class _SocketWire:
    """A real socket that resumes by itself when the server goes away (a deploy)."""

    def __init__(self, url: str, token: str, client: "ChannelClient[Any, Any] | None") -> None:
        self.url, self.token = url, token
        self.client = client
        self.resumes = 0
        self.socket = self._open(None)

    def _open(self, since: str | None) -> ClientConnection:
        url = self.url + (("&" if "?" in self.url else "?") + f"since={since}" if since else "")
        offered: Any = ["bearer", self.token]
        # Entered as `with connect(...)` would be; `close` leaves it.
        opened: ClientConnection = connect(url, subprotocols=offered, open_timeout=WAIT).__enter__()
        return opened

    def send(self, frame: str | bytes) -> None:
        self.socket.send(frame)

    def receive(self, timeout: float) -> str | bytes:
        while True:
            try:
                frame: str | bytes = self.socket.recv(timeout=timeout)
                return frame
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else 1006
                reason = exc.rcvd.reason if exc.rcvd else ""
                if code not in RESUMABLE or self.client is None or self.resumes >= 3:
                    raise Closed(code, reason) from None
                self.resumes += 1
                self.socket = self._reopen(self.client.since, timeout)

    def close(self, code: int = 1000) -> None:
        self.socket.close(code)

    def _reopen(self, since: str | None, timeout: float) -> ClientConnection:
        """Open again, while the server restarts, for up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._open(since)
            except OSError:  # refused: not serving yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


@contextmanager
def served_channel(
    base_url: str,
    channel: type[Channel[InboundT, OutboundT]],
    token: str,
    *,
    resume: bool = True,
    timeout: float = WAIT,
    **params: str,
) -> Iterator[ChannelClient[InboundT, OutboundT]]:
    """A real socket of `channel` on the app served at `base_url` (`http://host:port`).

    The token is offered as a subprotocol, as a browser does. Dropped with
    1001, 1006 or 1012 (the server went away or restarted), it reconnects with
    `since` where it left off, up to three times, when `resume`: the channel's
    greeting then says whether what was missed follows (`recovered`).
    """
    url = base_url.replace("http", "ws", 1) + channel_path(channel, params)
    wire = _SocketWire(url, token, None)
    client = ChannelClient(wire, channel, timeout=timeout)
    if resume:
        wire.client = client
    try:
        yield client
    finally:
        wire.close()
