"""The Redis broker: pub/sub between processes and hosts, routed by topic.

A process subscribes only to the topics that have local members (the hub
calls `subscribe` for the first, `unsubscribe` after the last), so no process
decodes every message of the cluster. A publish goes to Redis and comes back
to every subscribed process, this one included.

While Redis is unreachable, and until this process has resubscribed after
it returns: local members still get what is published in this process
(delivered directly), other processes do not; the reader reconnects with
backoff and resubscribes every topic, and delivery across processes resumes.
What was published during the outage is not replayed.
"""

import asyncio
import contextlib
import logging
import random

from redis import asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .broker import Deliver
from .connection import Frame

logger = logging.getLogger(__name__)

PREFIX = b"azu:"
# Subscribed from the start, so the reader always has a subscription to read.
CONTROL = PREFIX + b"control"
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
MAX_BACKOFF_SECONDS = 5.0


def encode(frame: Frame, exclude: str | None) -> bytes:
    """`t` or `b` (text or binary), the excluded connection id, a newline, the frame."""
    kind, data = (b"t", frame.encode()) if isinstance(frame, str) else (b"b", frame)
    return kind + (exclude or "").encode() + b"\n" + data


def decode(message: bytes) -> tuple[Frame, str | None]:
    newline = message.index(b"\n")
    exclude = message[1:newline].decode() or None
    data = message[newline + 1 :]
    return (data.decode() if message[:1] == b"t" else data), exclude


class RedisBroker:
    """Topic-routed publish/subscribe over Redis (redis.asyncio)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.reconnects = 0
        self._redis = redis.Redis.from_url(url)
        self._pubsub = self._redis.pubsub()
        self._topics: set[str] = set()
        self._deliver: Deliver | None = None
        self._reader: asyncio.Task[None] | None = None
        # False from a read failure until the subscriptions are back: publishes
        # meanwhile are also delivered here directly, or no one here gets them.
        self._live = False

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        try:
            await self._pubsub.subscribe(CONTROL)
            self._live = True
        except UNREACHABLE as exc:
            logger.warning("Redis at %s is unreachable (%s); retrying", self.url, exc)
        self._reader = asyncio.create_task(self._read(), name="redis-broker-reader")

    async def subscribe(self, topic: str) -> None:
        self._topics.add(topic)
        with contextlib.suppress(*UNREACHABLE):  # resubscribed on reconnect
            await self._pubsub.subscribe(PREFIX + topic.encode())

    async def unsubscribe(self, topic: str) -> None:
        self._topics.discard(topic)
        with contextlib.suppress(*UNREACHABLE):
            await self._pubsub.unsubscribe(PREFIX + topic.encode())

    async def publish(self, topic: str, frame: Frame, exclude: str | None = None) -> None:
        published = False
        try:
            await self._redis.publish(PREFIX + topic.encode(), encode(frame, exclude))
            published = True
        except UNREACHABLE as exc:
            logger.warning("Redis unreachable (%s): %r delivered in this process only", exc, topic)
        if not (published and self._live) and self._deliver is not None and topic in self._topics:
            self._deliver(topic, frame, exclude)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        with contextlib.suppress(*UNREACHABLE):
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        with contextlib.suppress(*UNREACHABLE):
            await self._redis.aclose()

    async def _read(self) -> None:
        backoff = 0.1
        while True:
            try:
                if not self._pubsub.subscribed:
                    await self._resubscribe()
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=1.0
                )
                self._live, backoff = True, 0.1
            except UNREACHABLE as exc:
                self._live = False
                self.reconnects += 1
                delay = min(backoff, MAX_BACKOFF_SECONDS) * random.uniform(0.5, 1.0)  # noqa: S311
                logger.warning("Redis unreachable (%s); reconnecting in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                backoff *= 2
                continue
            if message is not None and message["type"] == "message":
                self._dispatch(message["channel"], message["data"])

    async def _resubscribe(self) -> None:
        channels = [CONTROL, *(PREFIX + topic.encode() for topic in self._topics)]
        await self._pubsub.subscribe(*channels)

    def _dispatch(self, channel: bytes, data: bytes) -> None:
        if self._deliver is None or channel == CONTROL:
            return
        try:
            frame, exclude = decode(data)
        except (ValueError, UnicodeDecodeError):
            logger.warning("ignoring a malformed message on %r", channel)
            return
        self._deliver(channel[len(PREFIX) :].decode(), frame, exclude)
