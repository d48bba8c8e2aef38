"""A socket's outbound queue: bounded in items and in size, first in first out, read by its
writer alone.

`asyncio.Queue` would do, for many readers and writers, with three deques and
an Event: about 3.3 KB per socket before anything is queued. One deque and a
waiting future or two do the same here, which matters at thousands of idle
sockets (the benchmark measures memory per connection).
"""

import asyncio
import sys
from collections import deque
from collections.abc import Sized
from typing import Generic, TypeVar

# What is queued weighs its len(): a text's characters, a binary's bytes.
T = TypeVar("T", bound=Sized)


class OutboxFull(Exception):
    """`put_nowait` on a full outbox."""


# What a socket may have queued by default (WS_SEND_QUEUE_BYTES).
DEFAULT_MAX_BYTES = 4 * 1024 * 1024


class Outbox(Generic[T]):
    """At most `maxsize` items; no more once they weigh `max_bytes` (their len()), so that
    a few large frames fill it as surely as many small ones. One item always fits."""

    __slots__ = ("_bytes", "_items", "_reader", "_room", "max_bytes", "maxsize")

    def __init__(self, maxsize: int, max_bytes: int = sys.maxsize) -> None:
        self.maxsize = maxsize
        self.max_bytes = max_bytes
        self._bytes = 0
        self._items: deque[T] = deque()
        self._reader: asyncio.Future[None] | None = None  # the writer, waiting for an item
        self._room: asyncio.Future[None] | None = None  # putters, waiting for room

    def full(self) -> bool:
        return len(self._items) >= self.maxsize or self._bytes >= self.max_bytes

    def empty(self) -> bool:
        return not self._items

    @property
    def reader_waiting(self) -> bool:
        """True while the reader waits in `get`: it holds nothing it has yet to deal with."""
        return self._reader is not None and not self._reader.done()

    def put_nowait(self, item: T) -> None:
        self.put_quietly(item)
        _wake(self._reader)

    def put_quietly(self, item: T) -> None:
        """Queue `item` without waking the reader: whoever calls this takes it out instead."""
        if self.full():
            raise OutboxFull
        self._items.append(item)
        self._bytes += len(item)

    def wake_reader(self) -> None:
        """Let the reader take what was put quietly."""
        _wake(self._reader)

    async def put(self, item: T) -> None:
        """Wait for room, then queue `item`."""
        while self.full():
            if self._room is None or self._room.done():
                self._room = asyncio.get_running_loop().create_future()
            # Shielded: a putter that gives up must not cancel the others' wait.
            await asyncio.shield(self._room)
        self.put_nowait(item)

    def get_nowait(self) -> T:
        item = self._items.popleft()
        self._bytes -= len(item)
        _wake(self._room)
        return item

    async def get(self) -> T:
        while not self._items:
            self._reader = asyncio.get_running_loop().create_future()
            try:
                await self._reader
            finally:
                self._reader = None
        return self.get_nowait()

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0
        _wake(self._room)


def _wake(waiter: "asyncio.Future[None] | None") -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)
