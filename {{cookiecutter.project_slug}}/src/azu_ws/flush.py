"""Writing what broadcasts queued, every socket one after another, in one turn of the loop.

A broadcast queues a frame for each recipient without waiting. Waking each
recipient's writer task to send it cost a task switch per recipient. Instead
the sockets with frames due are written by one callback, in the turn of the
loop after the broadcast, one after another as a bare loop of `send_text`
would. Broadcasts made in the same turn still go out together (`batch.py`),
and a frame is framed for the wire once for all of them. A socket that
cannot be written now (its transport's flow control) is left to its writer
task. What it gained, measured, is in the template's README (Performance).

Waiting for the next turn only pays when other broadcasts come in this one.
A broadcast after a quiet spell (nothing due, and the flusher wrote nothing
for `QUIET_SECONDS`) is written at once, socket by socket, as it is handed
out (`broadcast`): at a paced rate that saves a pass over the recipients and
a turn of the loop before the first byte goes out. Under load, when the
flusher writes every turn, there is no such spell.
"""

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Iterator
from typing import Protocol

from .batch import Framed

logger = logging.getLogger(__name__)

# A broadcast when nothing was written for this long is written at once: no
# other broadcast is likely to come in the same turn and share its writes.
QUIET_SECONDS = 0.001


class Flushable(Protocol):
    def flush(self, framed: Framed) -> None:
        """Write what is queued, now, as far as the socket allows; `framed` is shared
        by every socket flushed together (`batch.wire_bytes`)."""


class Flusher:
    """Sockets with frames due, written in one callback in the next turn of the loop,
    or at once while a broadcast after a quiet spell is handed out (`broadcast`)."""

    __slots__ = ("_at_once", "_due", "_last_write")

    def __init__(self) -> None:
        self._due: list[Flushable] = []
        # When the flusher last finished writing (a flush, a broadcast at once).
        self._last_write = -math.inf
        # While a broadcast is written at once: the framing its recipients share.
        self._at_once: Framed | None = None

    @contextlib.contextmanager
    def broadcast(self) -> Iterator[None]:
        """Around handing one broadcast to its recipients: after a quiet spell (nothing
        due, nothing written for `QUIET_SECONDS`), sockets scheduled meanwhile are
        written at once; otherwise in the next turn, with the other broadcasts."""
        quiet = not self._due and time.monotonic() - self._last_write >= QUIET_SECONDS
        if not quiet or self._at_once is not None:
            yield
            return
        self._at_once = {}
        try:
            yield
        finally:
            self._at_once = None
            self._last_write = time.monotonic()

    def schedule(self, socket: Flushable) -> None:
        """Have `socket.flush()` called in the next turn, or now during a broadcast at
        once (the caller calls this once until then)."""
        if self._at_once is not None:
            flush_now(socket, self._at_once)
            return
        if not self._due:
            asyncio.get_running_loop().call_soon(self._flush)
        self._due.append(socket)

    def _flush(self) -> None:
        due, self._due = self._due, []
        framed: Framed = {}
        for socket in due:
            flush_now(socket, framed)
        self._last_write = time.monotonic()


def flush_now(socket: Flushable, framed: Framed) -> None:
    """`socket.flush(framed)`; a bug there is logged, so that the other sockets go on."""
    try:
        socket.flush(framed)
    except Exception:  # a bug, not a peer gone (`flush` takes those)
        logger.exception("flushing %r failed", socket)
