"""Filling gaps in what reaches this process: a topic's offsets must come one by one.

Through Redis, a process that lost its subscriber connection (a reset, a
restart of Redis) misses what other processes publish until it has
resubscribed, while their publishes still go into the history. The first
frame after that shows the gap: its offset is more than one past the last
one seen. The topic's frames then wait while the missed ones are read from
the history, and all go out in order. If the history cannot fill the gap,
the topic's sockets are closed with 1012, to resume (`since`) and be told
`recovered: false` if the messages are gone.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from .connection import Frame
from .history import Position, Replay

logger = logging.getLogger(__name__)

Read = Callable[[str, Position], Awaitable[Replay]]
Deliver = Callable[[str, Frame, str | None, Position | None], None]
Lost = Callable[[str], None]


class Gaps:
    """The last offset seen per topic, and the repairs under way."""

    def __init__(self, read: Read, deliver: Deliver, lost: Lost) -> None:
        self._read, self._deliver, self._lost = read, deliver, lost
        self._last: dict[str, Position] = {}
        # topic -> the frames waiting for its repair, in arrival order.
        self._waiting: dict[str, list[tuple[Frame, str | None, Position | None]]] = {}
        self._repairs: set[asyncio.Task[None]] = set()

    def take(
        self, topic: str, frame: Frame, exclude: str | None, position: Position | None
    ) -> bool:
        """True if the frame waits for a repair (now under way); False: deliver it now."""
        waiting = self._waiting.get(topic)
        if waiting is not None:
            waiting.append((frame, exclude, position))
            return True
        if position is None:
            return False
        last = self._last.get(topic)
        if last is not None and last.epoch == position.epoch and position.offset > last.offset + 1:
            self._waiting[topic] = [(frame, exclude, position)]
            repair = asyncio.get_running_loop().create_task(self._repair(topic, last))
            self._repairs.add(repair)
            repair.add_done_callback(self._repairs.discard)
            return True
        if last is None or last.epoch != position.epoch or position.offset > last.offset:
            self._last[topic] = position
        return False

    def forget(self, topic: str) -> None:
        """The topic has no member here any more: its next frame starts afresh."""
        self._last.pop(topic, None)

    async def _repair(self, topic: str, last: Position) -> None:
        try:
            found = await self._read(topic, last)
        except Exception:
            logger.exception("reading the history of %r to fill a gap failed", topic)
            found = Replay(None, False, [])
        # From here to the end, no await: nothing else is delivered meanwhile.
        waiting = self._waiting.pop(topic, [])
        first = next((position for _, _, position in waiting if position is not None), None)
        if found.recovered and first is not None:
            for number, frame in enumerate(found.frames, start=last.offset + 1):
                if number < first.offset:
                    self._deliver(topic, frame, None, Position(last.epoch, number))
            missed = first.offset - last.offset - 1
            logger.info("filled a gap of %d messages of %r from the history", missed, topic)
        else:
            logger.warning("messages of %r after %s never reached this process", topic, last)
            self._lost(topic)
        if first is not None:  # the gap is behind us, filled or not
            self._last[topic] = Position(first.epoch, first.offset - 1)
        for frame, exclude, position in waiting:
            if not self.take(topic, frame, exclude, position):
                self._deliver(topic, frame, exclude, position)
