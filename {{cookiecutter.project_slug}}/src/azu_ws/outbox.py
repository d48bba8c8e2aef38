"""A socket's outbound queue: bounded in frames and in bytes, first in first out."""

import asyncio
import sys
from collections import deque
from collections.abc import Sized
from typing import Generic, TypeVar

# What is queued weighs its len(): a text's characters, a binary's bytes.
T = TypeVar("T", bound=Sized)

# What a socket may have queued by default (WS_SEND_QUEUE_BYTES).
DEFAULT_MAX_BYTES = 4 * 1024 * 1024


class OutboxFull(Exception):
    """`put_nowait` on a full outbox."""


class Outbox(Generic[T]):
    """At most `maxsize` items; no more once they weigh `max_bytes`, so that a few large
    frames fill it as surely as many small ones. One item always fits. One deque and a
    future (not `asyncio.Queue`, 3.3 KB a socket): thousands of sockets sit idle."""

    __slots__ = ("_bytes", "_items", "_room", "max_bytes", "maxsize")

    def __init__(self, maxsize: int, max_bytes: int = sys.maxsize) -> None:
        self.maxsize = maxsize
        self.max_bytes = max_bytes
        self._bytes = 0
        self._items: deque[T] = deque()
        self._room: asyncio.Future[None] | None = None  # putters, waiting for room

    def __len__(self) -> int:
        return len(self._items)

    def full(self) -> bool:
        return len(self._items) >= self.maxsize or self._bytes >= self.max_bytes

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item: T) -> None:
        if self.full():
            raise OutboxFull
        self._items.append(item)
        self._bytes += len(item)

    async def wait_for_room(self) -> None:
        """Return once an item fits (or the outbox was cleared)."""
        while self.full():
            if self._room is None or self._room.done():
                self._room = asyncio.get_running_loop().create_future()
            # Shielded: a putter that gives up must not cancel the others' wait.
            await asyncio.shield(self._room)

    def take(self, limit: int) -> list[T]:
        """The oldest items, at most `limit` of them."""
        items = self._items
        taken = [items.popleft() for _ in range(min(limit, len(items)))]
        self._bytes -= sum(map(len, taken))
        if taken:
            _wake(self._room)
        return taken

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0
        _wake(self._room)


def _wake(waiter: "asyncio.Future[None] | None") -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)
