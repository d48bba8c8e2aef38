"""The hub's writer: every socket with frames due, written one after another in one callback
per turn of the loop, or at once for a broadcast after a quiet spell."""

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Iterator
from typing import Protocol

from .wire import WireCache

logger = logging.getLogger(__name__)

# A broadcast when nothing was written for this long is written at once: no
# other broadcast is likely to come in the same turn and share its writes.
QUIET_SECONDS = 0.001


class Writable(Protocol):
    def write(self, cache: WireCache) -> None:
        """Put what is queued on the wire, as far as it takes it now."""


class Writer:
    """Sockets with frames due (`schedule`), written in the next turn of the loop."""

    __slots__ = ("_at_once", "_due", "_last_write")

    def __init__(self) -> None:
        self._due: list[Writable] = []
        self._last_write = -math.inf
        # While a broadcast is written at once: the framing its recipients share.
        self._at_once: WireCache | None = None

    @contextlib.contextmanager
    def broadcast(self) -> Iterator[None]:
        """Around handing one broadcast to its recipients: after a quiet spell (nothing
        due, nothing written for `QUIET_SECONDS`) the turn is taken now, socket by socket."""
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

    def schedule(self, socket: Writable) -> None:
        """Have `socket.write()` called in the next turn (now, in a broadcast at once);
        the caller calls this once until then."""
        if self._at_once is not None:
            _write(socket, self._at_once)
            return
        if not self._due:
            asyncio.get_running_loop().call_soon(self._turn)
        self._due.append(socket)

    def _turn(self) -> None:
        due, self._due = self._due, []
        cache: WireCache = {}
        for socket in due:
            _write(socket, cache)
        self._last_write = time.monotonic()


def _write(socket: Writable, cache: WireCache) -> None:
    try:
        socket.write(cache)
    except Exception:  # a bug, not a peer gone (`write` takes those): the others go on
        logger.exception("writing to %r failed", socket)
