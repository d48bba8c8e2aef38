"""One accepted websocket: who it is, its bounded outbox, and its one way to close."""

import asyncio
import enum
import functools
import hashlib
import itertools
import logging
import time
import uuid
from typing import Any

from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected

from . import metrics
from .auth import User
from .close_codes import WS_1006_ABNORMAL_CLOSURE, WS_1011_INTERNAL_ERROR, WS_4008_SLOW_CONSUMER
from .frames import Frame
from .outbox import DEFAULT_MAX_BYTES, Outbox, OutboxFull
from .wire import PeerGone, WireCache, wire_for
from .writer import Writer

logger = logging.getLogger(__name__)

# How long a close may wait for what was queued before it to be written.
CLOSE_FLUSH_SECONDS = 5.0
# How long a peer whose queue was abandoned gets to take its close frame
# before its TCP connection is reset.
DROP_GRACE_SECONDS = 2.0
# Frames put on the wire in one write at most: this bounds one write's size.
MAX_BATCH = 64
SLOW_CONSUMER_REASON = "Slow consumer: outbound queue full"
# Where the runner leaves the client's `?session=`: the same in each of its reconnects.
SESSION_KEY = "azu.session"

# What a write raises when the peer is gone or the socket closed: ours (`PeerGone`), the
# network's (OSError), and Starlette's (a send to a socket it saw end, or after its close).
PEER_GONE = (PeerGone, OSError, WebSocketDisconnect, WebSocketDisconnected)
# Connection ids are unique across processes, so that a frame published
# through a shared broker can name the one socket it must skip.
_PROCESS = uuid.uuid4().hex[:8]
_numbers = itertools.count(1)


class State(enum.Enum):
    OPEN = "open"
    CLOSING = "closing"  # the server is closing: what was queued goes, then the close frame
    CLOSED = "closed"  # nothing more is read or written


class Connection:
    """An accepted socket of one authenticated user, with the topics it has joined."""

    def __init__(
        self,
        websocket: WebSocket,
        user: User,
        *,
        queue_size: int,
        queue_bytes: int = DEFAULT_MAX_BYTES,
        channel: str = "",
        writer: Writer | None = None,
        batched: bool = True,
    ) -> None:
        self.id = f"{_PROCESS}-{next(_numbers)}"
        self.user = user
        # Who `broadcast_from` skips: the client's session where it names one, so
        # that a replay after a reconnect skips what it sent before, too.
        session = websocket.scope.get(SESSION_KEY)
        self.sender_id = sender_id(user.id, session) if session else self.id
        self.channel = channel
        self.topics: set[str] = set()
        # Topics this socket is tracked on, with the farewell to publish there.
        self.presence: dict[str, str | None] = {}
        # Liveness, for the watchdog: when the client last sent anything, and
        # whether it has been asked to since; when its token runs out.
        self.last_seen = time.monotonic()
        self.heartbeat_sent = False
        expiry = user.claims.get("exp")
        self.expires_at: float | None = float(expiry) if isinstance(expiry, int | float) else None
        self.state = State.OPEN
        # Set when the server closes: what `on_close` will be told.
        self.close_code: int | None = None
        self.close_reason = ""
        self._websocket = websocket
        self._outbox: Outbox[Frame] = Outbox(queue_size, queue_bytes)
        self._wire = wire_for(websocket, batched=batched)
        self._writer = writer or Writer()
        self._delivered = metrics.FRAMES_DELIVERED.labels(channel)
        self._due = False  # scheduled on the writer
        self._waiting_write: asyncio.Future[None] | None = None  # a write the wire made wait
        self._closing: asyncio.Task[None] | None = None
        # The session's task while it waits in `receive`, and whether we cancelled it.
        self._reader: asyncio.Task[Any] | None = None
        self._interrupted = False
        self._waited = False  # whether a turn of the loop passed while `receive` waited

    def __repr__(self) -> str:
        return f"<Connection {self.id} user={self.user.id!r}>"

    @property
    def closing(self) -> bool:
        """True once the socket is closing or closed: nothing more is queued or read."""
        return self.state is not State.OPEN

    @property
    def batched(self) -> bool:
        """True if frames go out several to a write (the server offers its transport)."""
        return self._wire.batched

    # --- reading --------------------------------------------------------------

    async def receive(self) -> Message | None:
        """The client's next message, or None as soon as the server is closing the socket."""
        if self.closing:
            return None
        # Awaited in the session's own task: a task of its own to race against
        # the close cost two turns of the loop on every frame.
        task = self._reader = asyncio.current_task()
        assert task is not None  # always called from the session's task
        cancels_before = task.cancelling()
        self._waited = False
        asyncio.get_running_loop().call_soon(self._note_wait)
        try:
            message = await self._websocket.receive()
        except asyncio.CancelledError:
            if not self._interrupted:
                raise
            self._interrupted = False
            # Ours to take back, but not a cancel from outside (a shutdown)
            # that landed in the same turn: that one goes on, as asyncio.timeout does.
            if task.uncancel() > cancels_before:
                raise
            return None
        finally:
            self._reader = None
        if message["type"] == "websocket.disconnect":
            self._end()
            return message
        if not self._waited:
            # The frame was queued already and the receive did not yield: a
            # flooding client would keep every socket's writes from running.
            await asyncio.sleep(0)
        if self.closing:  # decided meanwhile (a ban, a timeout): not handled
            return None
        self.last_seen = time.monotonic()
        self.heartbeat_sent = False
        return message

    def _note_wait(self) -> None:
        self._waited = True

    # --- writing --------------------------------------------------------------

    def send_frame(self, frame: Frame) -> None:
        """Queue a frame without waiting; a full outbox closes the socket with 4008."""
        if self.closing:
            return
        try:
            self._outbox.put_nowait(frame)
        except OutboxFull:
            logger.warning("%r is not reading: dropping it as a slow consumer", self)
            self.close(WS_4008_SLOW_CONSUMER, SLOW_CONSUMER_REASON, abandon_queue=True)
            return
        if not self._due:
            self._due = True
            self._writer.schedule(self)

    async def send_in_turn(self, frame: Frame) -> None:
        """Queue a frame, waiting for room instead of closing: for a backlog sent at the
        server's pace (a replay, pending notifications), which may exceed the outbox."""
        while not self.closing and self._outbox.full():
            await self._outbox.wait_for_room()
        self.send_frame(frame)

    def write(self, cache: WireCache) -> None:
        """The one way frames reach the wire, called by the writer: up to MAX_BATCH queued
        frames a write, while the wire takes them without waiting."""
        self._due = False
        while self._waiting_write is None and self.state is not State.CLOSED:
            batch = self._outbox.take(MAX_BATCH)
            if not batch:
                return
            try:
                waiting = self._wire.write(batch, cache)
            except Exception as exc:  # the peer went away
                self._gone(exc)
                return
            if waiting is not None:
                self._waiting_write = asyncio.ensure_future(waiting)
                self._waiting_write.add_done_callback(functools.partial(self._written, batch))
                return
            self._delivered.inc(len(batch))

    def _written(self, batch: list[Frame], write: "asyncio.Future[None]") -> None:
        """A write that waited is done: the rest follows at once."""
        self._waiting_write = None
        if write.cancelled():
            return
        if (exc := write.exception()) is not None:
            self._gone(exc)
            return
        self._delivered.inc(len(batch))
        self.write({})

    # --- closing --------------------------------------------------------------

    def close(self, code: int, reason: str = "", *, abandon_queue: bool = False) -> None:
        """Close with `code`: after what is queued, or at once if `abandon_queue` (the peer
        is too slow or stuck). A peer that cannot take the close frame in time is reset."""
        if self.closing:
            return
        self.state, self.close_code, self.close_reason = State.CLOSING, code, reason
        if code == WS_4008_SLOW_CONSUMER:
            metrics.SLOW_CONSUMERS.labels(self.channel).inc()
        self._stop_reading()
        if abandon_queue:
            self._outbox.clear()
            if self._waiting_write is not None:  # stuck on a peer that does not read
                self._waiting_write.cancel()
        grace = DROP_GRACE_SECONDS if abandon_queue else CLOSE_FLUSH_SECONDS
        self._closing = asyncio.create_task(self._close(code, reason, grace))

    async def wait_closed(self) -> None:
        """Wait for a close the server started (bounded in time); then nothing more is
        read or written, whoever ended the socket."""
        if self._closing is not None:
            await asyncio.shield(self._closing)
        self._end()
        if self._waiting_write is not None:
            self._waiting_write.cancel()
            await asyncio.wait((self._waiting_write,))

    async def _close(self, code: int, reason: str, grace: float) -> None:
        try:
            async with asyncio.timeout(grace):
                while self.state is State.CLOSING:
                    if self._waiting_write is not None:
                        await asyncio.wait((self._waiting_write,))
                    elif not self._outbox.empty():
                        self.write({})
                    else:
                        await self._websocket.close(code, reason)
                        break
        except Exception as exc:  # timed out, or the peer is gone: cut the TCP connection
            logger.debug("%r: close failed (%r): aborting", self, exc)
            self._wire.abort()
        finally:
            self._end()

    def _gone(self, exc: BaseException) -> None:
        """A write failed. The peer went away: there is no one to send a close to (1006, or
        the peer's own code). Anything else is a fault of the server's: logged at ERROR with
        its traceback, counted (`azu_ws_write_faults_total`), and the socket closed with 1011."""
        if isinstance(exc, PEER_GONE):
            logger.debug("%r: send failed, the peer is gone: %s", self, exc)
            # The peer's own code where it closed first, as the receive loop would have
            # read it next; else the abnormal closure a client reports too.
            code, reason = WS_1006_ABNORMAL_CLOSURE, "Peer gone"
            if isinstance(exc, PeerGone) and exc.code is not None:
                code, reason = exc.code, exc.reason
        else:
            # Not the peer: a bug of ours, or a server that changed under the runtime.
            logger.error("%r: a write failed; closing the socket with 1011", self, exc_info=exc)
            metrics.WRITE_FAULTS.labels(self.channel).inc()
            if not self.closing:
                # Through the server's own close, which the failed write did not use;
                # the close path resets the connection if that fails too.
                self.close(WS_1011_INTERNAL_ERROR, "Internal error", abandon_queue=True)
                return
            code, reason = WS_1011_INTERNAL_ERROR, "Internal error"
            self._wire.abort()
        if self.close_code is None:  # a close already under way keeps its code
            self.close_code, self.close_reason = code, reason
        self._end()

    def _end(self) -> None:
        self.state = State.CLOSED
        self._outbox.clear()
        self._stop_reading()

    def _stop_reading(self) -> None:
        """The socket is closing: whoever waits in `receive` stops waiting."""
        if self._reader is not None and not self._interrupted:
            self._interrupted = True
            self._reader.cancel()


def sender_id(user_id: str, session: str) -> str:
    """The sender id of a client session of `user_id`: one user's sessions never match
    another's, and the id is safe in any header."""
    digest = hashlib.blake2b(f"{user_id}\n{session}".encode(), digest_size=10).hexdigest()
    return f"s-{digest}"
