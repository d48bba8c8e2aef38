"""Brokers carry published frames to every process that has subscribers for the topic.

The interface is small on purpose (start, subscribe, unsubscribe, publish,
close), so that a Redis broker can replace the in-memory one without any
channel noticing. A broker never queues: it hands each frame to `deliver`,
and the hub's per-connection queues apply the backpressure policy.
"""

from collections.abc import Callable
from typing import Protocol

from .connection import Frame

# Called with (topic, frame, exclude) for every frame published to a
# subscribed topic; `exclude` is the id of a connection that must not get it.
Deliver = Callable[[str, Frame, str | None], None]


class Broker(Protocol):
    """Publish/subscribe by topic between the processes of one deployment."""

    async def start(self, deliver: Deliver) -> None:
        """Begin delivering frames of subscribed topics to `deliver`."""

    async def subscribe(self, topic: str) -> None:
        """Start receiving `topic`: called when its first local subscriber joins."""

    async def unsubscribe(self, topic: str) -> None:
        """Stop receiving `topic`: called when its last local subscriber leaves."""

    async def publish(self, topic: str, frame: Frame, exclude: str | None = None) -> None:
        """Send a serialised frame to every subscriber of `topic` everywhere, but `exclude`."""

    async def close(self) -> None:
        """Release connections; no frame is delivered afterwards."""


class MemoryBroker:
    """One process, no network: publishing is a direct call to the local hub."""

    def __init__(self) -> None:
        self._deliver: Deliver | None = None
        self._topics: set[str] = set()

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver

    async def subscribe(self, topic: str) -> None:
        self._topics.add(topic)

    async def unsubscribe(self, topic: str) -> None:
        self._topics.discard(topic)

    async def publish(self, topic: str, frame: Frame, exclude: str | None = None) -> None:
        if self._deliver is not None and topic in self._topics:
            self._deliver(topic, frame, exclude)

    async def close(self) -> None:
        self._deliver = None
        self._topics.clear()


def broker_from_url(url: str) -> Broker:
    """The broker named by BROKER_URL: `memory://`, or `redis://host:port/db`."""
    if url.startswith("memory://"):
        return MemoryBroker()
    if url.startswith(("redis://", "rediss://")):
        from .redis_broker import RedisBroker  # imported only when used

        return RedisBroker(url)
    raise ValueError(f"unsupported BROKER_URL {url!r}")
