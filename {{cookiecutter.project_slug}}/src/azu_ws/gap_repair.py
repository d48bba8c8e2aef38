"""Filling gaps in what reaches this process: a topic's offsets must come one by one, and the
ones a lost subscription missed are read back from the history."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from .frames import Deliver, Envelope, Position
from .history import Replay

logger = logging.getLogger(__name__)

Read = Callable[[str, Position], Awaitable[Replay]]
Lost = Callable[[str], None]


class GapRepair:
    """The last offset seen per topic, and the repairs under way."""

    def __init__(self, read: Read, deliver: Deliver, lost: Lost) -> None:
        self._read, self._deliver, self._lost = read, deliver, lost
        self._last: dict[str, Position] = {}
        # topic -> the envelopes waiting for its repair, in arrival order.
        self._waiting: dict[str, list[Envelope]] = {}
        self._repairs: set[asyncio.Task[None]] = set()

    def take(self, envelope: Envelope) -> bool:
        """True if the envelope waits for a repair (now under way); False: deliver it now."""
        topic, position = envelope.topic, envelope.position
        waiting = self._waiting.get(topic)
        if waiting is not None:
            waiting.append(envelope)
            return True
        if position is None:
            return False
        last = self._last.get(topic)
        if last is not None and last.epoch == position.epoch and position.offset > last.offset + 1:
            self._waiting[topic] = [envelope]
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
        first = next((item.position for item in waiting if item.position is not None), None)
        if found.recovered and first is not None:
            for kept in found.frames:
                if kept.position is not None and kept.position.offset < first.offset:
                    self._deliver(kept)
            missed = first.offset - last.offset - 1
            logger.info("filled a gap of %d messages of %r from the history", missed, topic)
        else:
            logger.warning("messages of %r after %s never reached this process", topic, last)
            self._lost(topic)
        if first is not None:  # the gap is behind us, filled or not
            self._last[topic] = Position(first.epoch, first.offset - 1)
        for envelope in waiting:
            if not self.take(envelope):
                self._deliver(envelope)
