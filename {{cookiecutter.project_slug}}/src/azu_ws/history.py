"""Per-topic history: each message's `Position` (epoch and offset) and what a client at
`since` missed; `MemoryHistory` for one process (docs/ARCHITECTURE.md, History and resume)."""

import sys
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from .frames import Envelope, Position
from .metrics import HISTORY_BYTES

# The longest a sweep of expired history waits (shorter if HISTORY_TTL is).
SWEEP_SECONDS = 60.0
# What a topic costs in memory besides its frames (its record, deque, epoch and
# name), and a frame besides its text (its envelope, position and deque slot):
# measured with tracemalloc on CPython 3.11, rounded up.
TOPIC_BYTES = 1024
ENVELOPE_BYTES = 256
# How often the bytes kept are reported to /metrics, at most.
REPORT_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Replay:
    """A topic's position now, and the frames after `since` if history still holds them all."""

    # None when the history could not be read (Redis unreachable).
    position: Position | None
    # None without `since`; False when the gap cannot be filled (another epoch,
    # or messages since then already dropped): the client must reload.
    recovered: bool | None
    # What was missed, oldest first, each with its position and sender.
    frames: list[Envelope]


@dataclass(frozen=True, slots=True)
class HistoryKept:
    """What a process keeps of history in its own memory: `/healthz` says it."""

    topics: int
    bytes: int


@dataclass(frozen=True, slots=True)
class HistoryLimits:
    """How much each topic keeps: HISTORY_SIZE messages, HISTORY_TTL and HISTORY_META_TTL;
    and all topics of a process together, in memory: HISTORY_MAX_BYTES."""

    size: int = 100
    ttl: float = 300.0
    meta_ttl: float = 86400.0
    max_bytes: int = 64 * 1024 * 1024

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


def replay(position: Position, since: Position | None, kept: Sequence[Envelope]) -> Replay:
    """What a client at `since` missed, given the topic's `position` and the frames `kept`
    after `since` (oldest first): all of them, or recovered False if some are gone."""
    if since is None:
        return Replay(position, None, [])
    if since.epoch != position.epoch or since.offset > position.offset:
        return Replay(position, False, [])
    missed = [entry for entry in kept if entry.position and entry.position.offset > since.offset]
    complete = since.offset + len(missed) == position.offset
    return Replay(position, complete, missed if complete else [])


@dataclass(slots=True)
class _Topic:
    epoch: str
    offset: int = 0
    touched: float = 0.0
    published: float = 0.0
    frames: deque[Envelope] = field(default_factory=deque)
    # What the topic holds in memory, its frames included (an estimate).
    bytes: int = TOPIC_BYTES


def _bytes_of(kept: Envelope) -> int:
    return sys.getsizeof(kept.frame) + ENVELOPE_BYTES


class MemoryHistory:
    """The history of every topic of this process, bounded in length and in time, and all
    together in bytes.

    Expired messages and positions are swept a few times per HISTORY_TTL,
    in one pass over the topics, so that memory follows the traffic of the
    last minutes, not of the last day. Past HISTORY_MAX_BYTES, the topics
    used least recently are forgotten first, whole: a client resuming one is
    told `recovered: false`, as after a restart. Each step is O(1) per
    message: a running count, and topics in order of use.
    """

    def __init__(self, limits: HistoryLimits) -> None:
        self.size = limits.size
        self.ttl = limits.ttl
        self.meta_ttl = limits.position_ttl
        self.max_bytes = limits.max_bytes
        # Least recently used first.
        self._topics: OrderedDict[str, _Topic] = OrderedDict()
        self.bytes_kept = 0
        self._swept = time.monotonic()
        self._reported = -REPORT_SECONDS

    def append(self, topic: str, frame: str, sender: str | None = None) -> Envelope:
        """Stamp `frame` with the topic's next offset and keep it, with its sender."""
        now = time.monotonic()
        record = self._touch(topic, now)
        record.offset += 1
        record.published = now
        position = Position(record.epoch, record.offset)
        kept = Envelope(topic, stamp(frame, position), sender, position)
        record.frames.append(kept)
        grown = _bytes_of(kept)
        if len(record.frames) > self.size:
            grown -= _bytes_of(record.frames.popleft())
        record.bytes += grown
        self.bytes_kept += grown
        if self.bytes_kept > self.max_bytes:
            self._fit(record)
        if now - self._reported >= REPORT_SECONDS:
            self._reported = now
            HISTORY_BYTES.set(self.bytes_kept)
        return kept

    def since(self, topic: str, since: Position | None) -> Replay:
        """The topic's position, and what a client at `since` missed (see `replay`)."""
        record = self._touch(topic, time.monotonic())
        return replay(Position(record.epoch, record.offset), since, record.frames)

    def __len__(self) -> int:
        return len(self._topics)

    def kept(self) -> HistoryKept:
        return HistoryKept(len(self._topics), self.bytes_kept)

    def frames_kept(self) -> int:
        return sum(len(record.frames) for record in self._topics.values())

    def _touch(self, topic: str, now: float) -> _Topic:
        if now - self._swept > min(self.ttl, SWEEP_SECONDS) / 2:
            self.sweep(now)
        record = self._topics.get(topic)
        if record is None:
            record = self._topics[topic] = _Topic(new_epoch())
            self.bytes_kept += record.bytes
            if self.bytes_kept > self.max_bytes:
                self._fit(record)
        else:
            self._topics.move_to_end(topic)
            self._expire_frames(record, now)
        record.touched = now
        return record

    def _resize(self, record: _Topic, change: int) -> None:
        record.bytes += change
        self.bytes_kept += change

    def _fit(self, current: _Topic) -> None:
        """Forget the topics used least recently until all fit in HISTORY_MAX_BYTES; if
        `current` alone does not, its oldest messages."""
        while self.bytes_kept > self.max_bytes:
            topic, record = next(iter(self._topics.items()))
            if record is not current:
                self._forget(topic)
            elif len(current.frames) > 1:
                self._resize(current, -_bytes_of(current.frames.popleft()))
            else:
                return

    def _forget(self, topic: str) -> None:
        self.bytes_kept -= self._topics.pop(topic).bytes

    def _expire_frames(self, record: _Topic, now: float) -> None:
        if record.frames and now - record.published > self.ttl:
            record.frames.clear()  # the messages expired; the position did not
            self._resize(record, TOPIC_BYTES - record.bytes)

    def sweep(self, now: float) -> None:
        """Drop the messages past HISTORY_TTL, and the positions no one needs any more:
        a topic never published to after HISTORY_TTL, any other after HISTORY_META_TTL."""
        self._swept = now
        for topic, record in list(self._topics.items()):
            idle = now - record.touched
            if idle > self.meta_ttl or (record.offset == 0 and idle > self.ttl):
                self._forget(topic)
            else:
                self._expire_frames(record, now)
        HISTORY_BYTES.set(self.bytes_kept)
