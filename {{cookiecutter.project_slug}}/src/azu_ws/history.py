"""Per-topic history: where each message sits in its topic, and what a client missed.

Every text frame published to a topic that keeps history is stamped with
its place in the topic, `"offset": N, "epoch": "E"`, appended to the JSON
object once per publish (not once per recipient). Offsets count 1, 2, 3...
within an epoch. The epoch is a random name for one unbroken run of
offsets: when a topic's history is lost (its time to live ran out, Redis
was flushed) the next publish starts a new epoch, so an old position can
never be mistaken for a new one. Epochs are random, so they also tell
topics apart.

A topic keeps its last `size` messages, for `ttl` seconds after the last
publish; its position (epoch and offset) is kept `meta_ttl` seconds, longer,
so that a client of a quiet topic can still be told it missed nothing. A
topic never published to keeps its position only `ttl` seconds: reading a
topic must not be a way to fill memory for a day.

`MemoryHistory` is the in-process history of the memory broker; the Redis
broker keeps the same thing in Redis (`redis_broker.py`), shared by every
process.
"""

import re
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from .batch import Frame

SINCE_PATTERN = r"^[A-Za-z0-9_-]{1,64}:[0-9]{1,18}$"
_SINCE = re.compile(SINCE_PATTERN)
# The longest a sweep of expired history waits (shorter if HISTORY_TTL is).
SWEEP_SECONDS = 60.0


class Position(NamedTuple):
    """A place in a topic: after the message `offset` of `epoch` (0: before the first)."""

    epoch: str
    offset: int

    @classmethod
    def parse(cls, text: str) -> "Position":
        """`epoch:offset`, as clients send it in `since`; ValueError if it is not that."""
        if not _SINCE.fullmatch(text):
            raise ValueError("since must be epoch:offset, as in the last message received")
        epoch, _, offset = text.partition(":")
        return cls(epoch, int(offset))


@dataclass(frozen=True, slots=True)
class Replay:
    """A topic's position now, and the frames after `since` if history still holds them all."""

    # None when the history could not be read (Redis unreachable).
    position: Position | None
    # None without `since`; False when the gap cannot be filled (another epoch,
    # or messages since then already dropped): the client must reload.
    recovered: bool | None
    frames: list[Frame]


@dataclass(frozen=True, slots=True)
class HistoryLimits:
    """How much each topic keeps: HISTORY_SIZE messages, HISTORY_TTL and HISTORY_META_TTL."""

    size: int = 100
    ttl: float = 300.0
    meta_ttl: float = 86400.0

    @property
    def position_ttl(self) -> float:
        """How long a published topic's position is kept: never less than its messages."""
        return max(self.meta_ttl, self.ttl)


def new_epoch() -> str:
    return uuid.uuid4().hex[:12]


def stamp_prefix(frame: str) -> str:
    """The frame without its closing brace, ready for `"offset":...` (see `stamp`)."""
    return frame[:-1] + ("," if len(frame) > 2 else "")


def stamp(frame: str, position: Position) -> str:
    """`frame` (a JSON object) with its position in the topic appended."""
    epoch, offset = position
    return stamp_prefix(frame) + f'"offset":{offset},"epoch":"{epoch}"' + "}"


def replay(position: Position, since: Position | None, kept: Sequence[tuple[int, Frame]]) -> Replay:
    """What a client at `since` missed, given the topic's `position` and the frames `kept`
    after `since` (oldest first): all of them, or recovered False if some are gone."""
    if since is None:
        return Replay(position, None, [])
    if since.epoch != position.epoch or since.offset > position.offset:
        return Replay(position, False, [])
    missed = [frame for offset, frame in kept if offset > since.offset]
    complete = since.offset + len(missed) == position.offset
    return Replay(position, complete, missed if complete else [])


@dataclass(slots=True)
class _Topic:
    epoch: str
    offset: int = 0
    touched: float = 0.0
    published: float = 0.0
    frames: deque[tuple[int, str]] = field(default_factory=deque)


class MemoryHistory:
    """The history of every topic of this process, bounded in length and in time.

    Expired messages and positions are swept a few times per HISTORY_TTL,
    in one pass over the topics, so that memory follows the traffic of the
    last minutes, not of the last day.
    """

    def __init__(self, limits: HistoryLimits) -> None:
        self.size = limits.size
        self.ttl = limits.ttl
        self.meta_ttl = limits.position_ttl
        self._topics: dict[str, _Topic] = {}
        self._swept = time.monotonic()

    def append(self, topic: str, frame: str) -> tuple[str, Position]:
        """Stamp `frame` with the topic's next offset and keep it; return both."""
        now = time.monotonic()
        record = self._touch(topic, now)
        record.offset += 1
        record.published = now
        position = Position(record.epoch, record.offset)
        stamped = stamp(frame, position)
        record.frames.append((record.offset, stamped))
        if len(record.frames) > self.size:
            record.frames.popleft()
        return stamped, position

    def since(self, topic: str, since: Position | None) -> Replay:
        """The topic's position, and what a client at `since` missed (see `replay`)."""
        record = self._touch(topic, time.monotonic())
        return replay(Position(record.epoch, record.offset), since, record.frames)

    def __len__(self) -> int:
        return len(self._topics)

    def frames_kept(self) -> int:
        return sum(len(record.frames) for record in self._topics.values())

    def _touch(self, topic: str, now: float) -> _Topic:
        if now - self._swept > min(self.ttl, SWEEP_SECONDS) / 2:
            self.sweep(now)
        record = self._topics.get(topic)
        if record is None:
            record = self._topics[topic] = _Topic(new_epoch())
        else:
            self._expire_frames(record, now)
        record.touched = now
        return record

    def _expire_frames(self, record: _Topic, now: float) -> None:
        if record.frames and now - record.published > self.ttl:
            record.frames.clear()  # the messages expired; the position did not

    def sweep(self, now: float) -> None:
        """Drop the messages past HISTORY_TTL, and the positions no one needs any more:
        a topic never published to after HISTORY_TTL, any other after HISTORY_META_TTL."""
        self._swept = now
        for topic, record in list(self._topics.items()):
            idle = now - record.touched
            if idle > self.meta_ttl or (record.offset == 0 and idle > self.ttl):
                del self._topics[topic]
            else:
                self._expire_frames(record, now)
