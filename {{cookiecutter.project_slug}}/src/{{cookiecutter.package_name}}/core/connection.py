"""One accepted websocket: who it is, and a bounded outbound queue drained by its own writer.

Nothing ever awaits a client's socket except that client's writer task, so a
slow or stalled client can only delay itself. When its queue is full the
client is too slow to keep up: it is closed with 4008 rather than let memory
grow or make anyone else wait.
"""

import asyncio
import contextlib
import itertools
import logging
import uuid
from dataclasses import dataclass

from starlette.types import Message
from starlette.websockets import WebSocket

from ..auth import User
from ..close_codes import WS_4008_SLOW_CONSUMER

logger = logging.getLogger(__name__)

# How long a closing connection may take to flush what is queued before it.
CLOSE_FLUSH_SECONDS = 5.0

# Connection ids are unique across processes, so that a frame published
# through a shared broker can name the one socket it must skip.
_PROCESS = uuid.uuid4().hex[:8]
_numbers = itertools.count(1)

# What a socket is sent: a text frame or a binary one.
Frame = str | bytes


@dataclass(frozen=True, slots=True)
class _Close:
    code: int
    reason: str


class Connection:
    """An accepted socket of one authenticated user, with the topics it has joined."""

    def __init__(self, websocket: WebSocket, user: User, *, queue_size: int) -> None:
        self.id = f"{_PROCESS}-{next(_numbers)}"
        self.user = user
        self.topics: set[str] = set()
        self.presence: set[str] = set()
        # Set when the server decided to close: what `on_close` will be told.
        self.close_code: int | None = None
        self.close_reason = ""
        self._websocket = websocket
        # Done once the server is finished with this socket (it closed it, or
        # a send failed): whoever waits on the client stops waiting then.
        self._ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue: asyncio.Queue[Frame | _Close] = asyncio.Queue(maxsize=queue_size)
        self._writer = asyncio.create_task(self._write(), name=f"ws-writer-{self.id}")

    def __repr__(self) -> str:
        return f"<Connection {self.id} user={self.user.id!r}>"

    @property
    def closing(self) -> bool:
        """True once the server is closing this socket: nothing more is sent or read."""
        return self._ended.done()

    async def receive(self) -> Message | None:
        """The client's next message, or None as soon as the server is closing the socket.

        A client dropped as a slow consumer may never send again; without the
        race its session would linger, counted and subscribed, until it did.
        """
        if self.closing:
            return None
        receiving = asyncio.ensure_future(self._websocket.receive())
        await asyncio.wait((receiving, self._ended), return_when=asyncio.FIRST_COMPLETED)
        if self.closing:
            receiving.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receiving
            return None
        return receiving.result()

    def send_frame(self, frame: Frame) -> None:
        """Queue a serialised frame without waiting; overflow closes the connection with 4008."""
        if self.closing:
            return
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            self._drop_slow_consumer()

    async def close(self, code: int, reason: str = "") -> None:
        """Send what is queued, then close with `code`; returns once the socket is closed."""
        self._begin_close(code, reason)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._writer), CLOSE_FLUSH_SECONDS)
        await self.abort()

    async def abort(self) -> None:
        """Stop writing at once: the peer is gone, or we gave up on it."""
        self._end()
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer

    def _drop_slow_consumer(self) -> None:
        logger.warning("%r is not reading: closing it as a slow consumer", self)
        self._end()
        self.close_code = WS_4008_SLOW_CONSUMER
        self.close_reason = "Slow consumer: outbound queue full"
        # The writer may be stuck in a send that will never finish; the close
        # frame must not queue behind it.
        self._writer.cancel()
        self._writer = asyncio.create_task(self._close_now(self.close_code, self.close_reason))

    async def _close_now(self, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(self._websocket.close(code, reason), CLOSE_FLUSH_SECONDS)
        except Exception as exc:  # the peer is gone or stuck: nothing more to do for it
            logger.debug("%r: close failed: %s", self, exc)

    def _begin_close(self, code: int, reason: str) -> None:
        if self.closing:
            return
        self._end()
        self.close_code, self.close_reason = code, reason
        if self._queue.full():
            self._drop_queue()
        self._queue.put_nowait(_Close(code, reason))

    def _end(self) -> None:
        if not self._ended.done():
            self._ended.set_result(None)

    def _drop_queue(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()

    async def _write(self) -> None:
        try:
            while True:
                item = await self._queue.get()
                if isinstance(item, _Close):
                    await self._websocket.close(item.code, item.reason)
                    return
                if isinstance(item, str):
                    await self._websocket.send_text(item)
                else:
                    await self._websocket.send_bytes(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the peer went away mid-send: nothing left to tell it
            logger.debug("%r: send failed: %s", self, exc)
            self._end()
