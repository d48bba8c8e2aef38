"""Brokers carry published frames to every process that has subscribers for the topic.

The interface is small on purpose (start, subscribe, unsubscribe, publish,
history, close), so that a Redis broker can replace the in-memory one
without any channel noticing. A broker never queues: it hands each frame to
`deliver`, and the hub's per-connection queues apply the backpressure policy.

A broker also keeps each topic's history (`history.py`): a frame published
with `record=True` is stamped with its place in the topic and kept, in the
same step as it is published, so that offsets follow the order in which
subscribers receive the frames.
"""

from collections.abc import Callable
from typing import Protocol

from .connection import Frame
from .history import HistoryLimits, MemoryHistory, Position, Replay

# Called with (topic, frame, exclude, position) for every frame published to
# a subscribed topic; `exclude` is the id of a connection that must not get
# it, `position` its place in the topic's history (None if not recorded).
Deliver = Callable[[str, Frame, str | None, Position | None], None]


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

    async def publish(
        self, topic: str, frame: Frame, exclude: str | None = None, *, record: bool = False
    ) -> None:
        """Send a serialised frame to every subscriber of `topic` everywhere, but `exclude`.

        With `record`, a text frame (a JSON object) is stamped and kept in the
        topic's history first.
        """

    async def history(self, topic: str, since: Position | None) -> Replay:
        """The topic's position now and, given `since`, what was published after it."""

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

    async def publish(
        self, topic: str, frame: Frame, exclude: str | None = None, *, record: bool = False
    ) -> None:
        position = None
        if record and isinstance(frame, str):
            frame, position = self.kept.append(topic, frame)
        if self._deliver is not None and topic in self._topics:
            self._deliver(topic, frame, exclude, position)

    async def history(self, topic: str, since: Position | None) -> Replay:
        return self.kept.since(topic, since)

    async def close(self) -> None:
        self._deliver = None
        self._topics.clear()


def broker_from_url(url: str, limits: HistoryLimits | None = None) -> Broker:
    """The broker named by BROKER_URL: `memory://`, or `redis://host:port/db`."""
    limits = limits or HistoryLimits()
    if url.startswith("memory://"):
        return MemoryBroker(limits)
    if url.startswith(("redis://", "rediss://")):
        from .redis_broker import RedisBroker  # imported only when used

        return RedisBroker(url, limits)
    raise ValueError(f"unsupported BROKER_URL {url!r}")
