"""One accepted websocket: who it is, and a bounded outbound queue drained by its own writer.

Nothing ever awaits a client's socket except that client's writer task, so a
slow or stalled client can only delay itself. What broadcasts queue for a
socket whose writer is idle is written by the hub's flusher instead, without
waiting, in the next turn of the loop, or at once for a broadcast after a
quiet spell (`flush.py`). When its queue is full the client is too slow to
keep up: it is dropped with 4008 rather than let memory grow or make anyone
else wait.

Two ways to end a connection from the server: `request_close` lets the writer
send what is queued and then the close frame (the peer is alive); `drop`
abandons the queue and a possibly stuck send (the peer is stalled or dead).
Either way the session reading from the client stops at once.
"""

import asyncio
import contextlib
import itertools
import logging
import socket
import struct
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import Message
from starlette.websockets import WebSocket

from . import metrics
from .auth import User
from .batch import Frame as Frame  # what a socket is sent; imported from here elsewhere
from .batch import Framed, batch_writer
from .close_codes import WS_4008_SLOW_CONSUMER
from .flush import Flusher
from .outbox import DEFAULT_MAX_BYTES, Outbox, OutboxFull
from .tasks import cancel_and_wait
from .transport import PROTOCOL_KEY

logger = logging.getLogger(__name__)

# How long a closing connection may take to flush what is queued before it.
CLOSE_FLUSH_SECONDS = 5.0
# How long a dropped peer gets to take its close frame before the TCP
# connection is reset (shorter than the flush, which waits on it).
DROP_GRACE_SECONDS = 2.0
# Frames written in one go at most: they are already queued, so this only
# bounds one write's size.
MAX_BATCH = 64

# Connection ids are unique across processes, so that a frame published
# through a shared broker can name the one socket it must skip.
_PROCESS = uuid.uuid4().hex[:8]
_numbers = itertools.count(1)


@dataclass(frozen=True, slots=True)
class _Close:
    code: int
    reason: str

    def __len__(self) -> int:
        return 0  # weighs nothing in the outbox

    def __bool__(self) -> bool:
        return True  # a close is something, though it weighs nothing


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
        flusher: Flusher | None = None,
    ) -> None:
        self.id = f"{_PROCESS}-{next(_numbers)}"
        self.user = user
        self.channel = channel
        self._delivered = metrics.FRAMES_DELIVERED.labels(channel)
        self.topics: set[str] = set()
        # Topics this socket is tracked on, with the farewell to publish there.
        self.presence: dict[str, str | None] = {}
        # Liveness, for the watchdog: when the client last sent anything, and
        # whether it has been asked to since; when its token runs out.
        self.last_seen = time.monotonic()
        self.heartbeat_sent = False
        expiry = user.claims.get("exp")
        self.expires_at: float | None = float(expiry) if isinstance(expiry, int | float) else None
        # Set when the server decided to close: what `on_close` will be told.
        self.close_code: int | None = None
        self.close_reason = ""
        self._websocket = websocket
        self._queue: Outbox[Frame | _Close] = Outbox(queue_size, queue_bytes)
        # One system call for several frames, where the server allows it.
        self._write_batch = batch_writer(websocket.scope)
        # Where it can, broadcast frames are written by the flusher rather than
        # by waking the writer task (`flush.py`); `_flush_due` while it will be.
        self._flusher = flusher if self._write_batch is not None else None
        self._flush_due = False
        self._writer = asyncio.create_task(self._write(), name=f"ws-writer-{self.id}")
        # Done once the server is finished with this socket (it is closing it,
        # or a send failed): whoever waits on the client stops waiting then.
        self._ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._ended.add_done_callback(self._interrupt_reader)
        # The session's task while it waits in `receive`, and whether we cancelled it.
        self._reader: asyncio.Task[Any] | None = None
        self._interrupted = False
        # Whether a turn of the loop passed while `receive` waited for a frame.
        self._waited = False
        # Frames this socket already got another way (a backlog it was sent):
        # dropped if they come again through a broadcast.
        self.refuse: Callable[[Frame], bool] | None = None
        # While not None, broadcast frames wait here instead of the queue (`hold`).
        self._held: list[Frame] | None = None

    def __repr__(self) -> str:
        return f"<Connection {self.id} user={self.user.id!r}>"

    @property
    def closing(self) -> bool:
        """True once the server is closing this socket: nothing more is sent or read."""
        return self._ended.done()

    async def receive(self) -> Message | None:
        """The client's next message, or None as soon as the server is closing the socket.

        A dropped client may never send again: when the server starts closing
        the socket, `_interrupt_reader` cancels this wait, so that its session
        does not linger, counted and subscribed, until the client sends.
        """
        if self.closing:
            return None
        # Awaited in the session's own task: racing it in a task of its own
        # against `_ended` cost two turns of the event loop on every frame.
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
        if not self._waited:
            # The frame was queued already, and the receive above did not
            # yield: a flooding client would keep the writers (every other
            # socket's included) from running until it stops. One turn of the
            # loop per frame all the same; a frame that was waited for has had it.
            await asyncio.sleep(0)
        if self.closing:  # decided meanwhile (a ban, a timeout): this frame is not handled
            return None
        self.last_seen = time.monotonic()
        self.heartbeat_sent = False
        return message

    def send_frame(self, frame: Frame) -> None:
        """Queue a serialised frame without waiting; overflow drops the connection with 4008."""
        if self.closing or (self.refuse is not None and self.refuse(frame)):
            return
        if self._held is not None:
            self._held.append(frame)
            if len(self._held) > self._queue.maxsize:
                self.drop_slow()
            return
        try:
            if self._flusher is not None and self._queue.reader_waiting:
                self._queue.put_quietly(frame)
                if not self._flush_due:
                    self._flush_due = True
                    self._flusher.schedule(self)
            else:
                self._queue.put_nowait(frame)
        except OutboxFull:
            logger.warning("%r is not reading: dropping it as a slow consumer", self)
            self.drop_slow()

    def flush(self, framed: Framed) -> None:
        """Write what `send_frame` queued for the flusher; leave what must wait to the writer."""
        self._flush_due = False
        write = self._write_batch
        # The writer task, if it is not waiting for frames, is sending some:
        # it takes these after them, in order. Closing, it has been woken.
        if write is None or self.closing or not self._queue.reader_waiting:
            return
        try:
            while not self._queue.empty():
                if not write.ready:  # flow control: the writer task waits for the transport
                    self._queue.wake_reader()
                    return
                # Not closing: no close is queued (`request_close` marks first).
                batch, _ = self._batch(self._queue.get_nowait())
                write.write_now(batch, framed)
                self._delivered.inc(len(batch))
        except Exception as exc:  # the peer went away mid-send, as in `_write`
            self._send_failed(exc)

    def drop_slow(self) -> None:
        """More is waiting for this client than its queue holds: drop it with 4008."""
        metrics.SLOW_CONSUMERS.labels(self.channel).inc()
        self.drop(WS_4008_SLOW_CONSUMER, "Slow consumer: outbound queue full")

    async def send_in_turn(self, frame: Frame) -> None:
        """Queue a frame of this client's own, waiting for room instead of dropping it.

        For a backlog the server sends at its own pace (pending notifications):
        the client is not slow, there is just more than the queue holds.
        """
        if self.closing:
            return
        putting = asyncio.ensure_future(self._queue.put(frame))
        await asyncio.wait((putting, self._ended), return_when=asyncio.FIRST_COMPLETED)
        if not putting.done():
            putting.cancel()

    def hold(self) -> None:
        """Keep broadcast frames aside until `release`, while a backlog is sent in turn."""
        self._held = []

    async def release(self, keep: Callable[[Frame], bool]) -> None:
        """Send the frames held since `hold` that `keep` accepts, in turn and in order.

        Frames that arrive meanwhile are held too, until none is left: then
        broadcasts go straight to the queue again.
        """
        while self._held and not self.closing:
            frame = self._held.pop(0)
            if keep(frame):
                await self.send_in_turn(frame)
        self._held = None

    def request_close(self, code: int, reason: str = "") -> None:
        """Close with `code` once what is already queued has been sent."""
        if self._mark_closing(code, reason):
            if self._queue.full():
                self._drop_queue()
            self._queue.put_nowait(_Close(code, reason))

    def drop(self, code: int, reason: str = "") -> None:
        """Close with `code` now, abandoning the queue: the peer is stuck or gone."""
        if self._mark_closing(code, reason):
            # The writer may be stuck in a send that will never finish; the
            # close frame must not wait behind it.
            self._writer.cancel()
            self._writer = asyncio.create_task(self._close_now(code, reason))

    async def close(self, code: int, reason: str = "") -> None:
        """Send what is queued, then close with `code`; returns once that is done."""
        self.request_close(code, reason)
        await self.finish()

    async def finish(self) -> None:
        """Let a close the server started complete (bounded in time), then stop writing."""
        if self.close_code is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._writer), CLOSE_FLUSH_SECONDS)
        if not self._ended.done():
            self._ended.set_result(None)
        await cancel_and_wait(self._writer)

    def _note_wait(self) -> None:
        self._waited = True

    def _interrupt_reader(self, _: "asyncio.Future[None]") -> None:
        """The server is closing the socket: stop waiting for the client (see `receive`)."""
        if self._reader is not None and not self._interrupted:
            self._interrupted = True
            self._reader.cancel()

    def _mark_closing(self, code: int, reason: str) -> bool:
        """Record the server's close; False if the connection was already closing."""
        if self.closing:
            return False
        self.close_code, self.close_reason = code, reason
        self._ended.set_result(None)
        return True

    async def _close_now(self, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(self._websocket.close(code, reason), DROP_GRACE_SECONDS)
        except Exception as exc:  # the peer is stuck or gone: cut the TCP connection
            logger.debug("%r: close failed (%s): aborting", self, exc)
            self._abort_transport()

    def _abort_transport(self) -> None:
        """Reset the TCP connection, dropping what is buffered for a peer that never reads.

        Without this the socket, its file descriptor and megabytes of send
        buffer stay until the peer goes away, and a shutdown waits for it.
        ASGI has no way to say so: `transport.TransportHandle` puts the server's
        protocol, which holds the transport, in the scope where it can.
        Elsewhere this does nothing.
        """
        transport: Any = getattr(self._websocket.scope.get(PROTOCOL_KEY), "transport", None)
        # asyncio's transports and uvloop's alike (uvloop's are no subclass).
        if not callable(getattr(transport, "abort", None)):
            return
        # Linger 0: the kernel resets at once and frees the send buffer, instead
        # of keeping an orphan socket that retries a peer that will not read.
        with contextlib.suppress(OSError, AttributeError):
            raw = transport.get_extra_info("socket")
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()

    async def _send(self, frames: list[Frame]) -> None:
        if self._write_batch is not None:
            await self._write_batch.write(frames)
            return
        for frame in frames:
            if isinstance(frame, str):
                await self._websocket.send_text(frame)
            else:
                await self._websocket.send_bytes(frame)

    def _drop_queue(self) -> None:
        self._queue.clear()

    async def _write(self) -> None:
        try:
            while True:
                batch, close = self._batch(await self._queue.get())
                if batch:
                    await self._send(batch)
                    self._delivered.inc(len(batch))
                if close is not None:
                    await self._websocket.close(close.code, close.reason)
                    return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the peer went away mid-send: nothing left to tell it
            self._send_failed(exc)

    def _batch(self, item: Frame | _Close) -> tuple[list[Frame], _Close | None]:
        """`item` and the frames queued after it, together (see `batch.py`), up to a close."""
        batch: list[Frame] = []
        while not isinstance(item, _Close):
            batch.append(item)
            if self._queue.empty() or len(batch) >= MAX_BATCH:
                return batch, None
            item = self._queue.get_nowait()
        return batch, item

    def _send_failed(self, exc: Exception) -> None:
        logger.debug("%r: send failed: %s", self, exc)
        if not self._ended.done():
            self._ended.set_result(None)
