"""Brokers carry envelopes to every process subscribed to their topic, and keep each topic's
history; `MemoryBroker` is one process (docs/ARCHITECTURE.md, Scale-out)."""

from typing import Protocol

from .frames import Deliver, Envelope, Position
from .history import HistoryKept, HistoryLimits, MemoryHistory, Replay


class Broker(Protocol):
    """Publish/subscribe by topic between the processes of one deployment."""

    # True if a frame can reach `deliver` after a history read that already
    # holds it (Redis relays pub/sub on a connection of its own): then a
    # socket that just joined must drop such frames. False: never.
    relays_late: bool

    async def start(self, deliver: Deliver) -> None:
        """Begin delivering frames of subscribed topics to `deliver`."""

    async def subscribe(self, topic: str) -> bool:
        """Start receiving `topic`: called when its first local subscriber joins.

        True once the subscription is in force; False if that is not certain
        (Redis away or slow): it will be, when Redis answers.
        """

    async def unsubscribe(self, topic: str) -> None:
        """Stop receiving `topic`: called when its last local subscriber leaves."""

    async def publish(self, envelope: Envelope, *, record: bool = False) -> None:
        """Hand `envelope` to every process subscribed to its topic; with `record`, a text
        frame (a JSON object) is stamped and kept in the topic's history first."""

    async def history(self, topic: str, since: Position | None) -> Replay:
        """The topic's position now and, given `since`, what was published after it."""

    def history_kept(self) -> HistoryKept:
        """What of the history this process keeps in its own memory (Redis: nothing)."""

    async def close(self) -> None:
        """Release connections; no frame is delivered afterwards."""


class MemoryBroker:
    """One process, no network: publishing is a direct call to the local hub."""

    relays_late = False

    def __init__(self, limits: HistoryLimits | None = None) -> None:
        self._deliver: Deliver | None = None
        self._topics: set[str] = set()
        self.kept = MemoryHistory(limits or HistoryLimits())

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver

    async def subscribe(self, topic: str) -> bool:
        self._topics.add(topic)
        return True

    async def unsubscribe(self, topic: str) -> None:
        self._topics.discard(topic)

    async def publish(self, envelope: Envelope, *, record: bool = False) -> None:
        topic = envelope.topic
        if record and isinstance(envelope.frame, str):
            envelope = self.kept.append(topic, envelope.frame, envelope.exclude)
        if self._deliver is not None and topic in self._topics:
            self._deliver(envelope)

    async def history(self, topic: str, since: Position | None) -> Replay:
        return self.kept.since(topic, since)

    def history_kept(self) -> HistoryKept:
        return self.kept.kept()

    async def close(self) -> None:
        self._deliver = None
        self._topics.clear()
