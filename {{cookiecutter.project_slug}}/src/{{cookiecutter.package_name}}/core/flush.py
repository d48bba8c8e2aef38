"""Writing what broadcasts queued, every socket one after another, in one turn of the loop.

A broadcast queues a frame for each recipient without waiting. Waking each
recipient's writer task to send it cost a task switch per recipient. Instead
the sockets with frames due are written by one callback, in the turn of the
loop after the broadcast, one after another as a bare loop of `send_text`
would. Broadcasts made in the same turn still go out together (`batch.py`),
and a frame is framed for the wire once for all of them. A socket that
cannot be written now (its transport's flow control) is left to its writer
task. What it gained, measured, is in the template's README (Performance).
"""

import asyncio
import logging
from typing import Protocol

from .batch import Framed

logger = logging.getLogger(__name__)


class Flushable(Protocol):
    def flush(self, framed: Framed) -> None:
        """Write what is queued, now, as far as the socket allows; `framed` is shared
        by every socket flushed in this turn (`batch.wire_bytes`)."""


class Flusher:
    """Sockets with frames due, written in one callback in the next turn of the loop."""

    __slots__ = ("_due",)

    def __init__(self) -> None:
        self._due: list[Flushable] = []

    def schedule(self, socket: Flushable) -> None:
        """Have `socket.flush()` called in the next turn (the caller calls this once until then)."""
        if not self._due:
            asyncio.get_running_loop().call_soon(self._flush)
        self._due.append(socket)

    def _flush(self) -> None:
        due, self._due = self._due, []
        framed: Framed = {}
        for socket in due:
            try:
                socket.flush(framed)
            except Exception:  # a bug, not a peer gone (`flush` takes those): the others go on
                logger.exception("flushing %r failed", socket)
