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
import uuid
from typing import Any

from .. import metrics
from .broker import Deliver
from .connection import Frame
from .redis_client import UNREACHABLE, open_redis
from .tasks import cancel_and_wait

logger = logging.getLogger(__name__)

PREFIX = b"azu:"
# Subscribed from the start, so the reader always has a subscription to read.
CONTROL = PREFIX + b"control"
MAX_BACKOFF_SECONDS = 5.0
# How long `subscribe` waits for Redis to confirm before returning anyway.
CONFIRM_SECONDS = 1.0


def encode(frame: Frame, exclude: str | None, skip: str = "") -> bytes:
    """`t` or `b` (text or binary), the process that must skip it (if any), a space,
    the excluded connection id, a newline, the frame."""
    kind, data = (b"t", frame.encode()) if isinstance(frame, str) else (b"b", frame)
    return kind + skip.encode() + b" " + (exclude or "").encode() + b"\n" + data


def decode(message: bytes) -> tuple[Frame, str | None, str]:
    """The frame, its excluded connection id, and the process that must skip it."""
    newline = message.index(b"\n")
    skip, _, exclude = message[1:newline].decode().partition(" ")
    data = message[newline + 1 :]
    return (data.decode() if message[:1] == b"t" else data), exclude or None, skip


class RedisBroker:
    """Topic-routed publish/subscribe over Redis (redis.asyncio)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.node = uuid.uuid4().hex[:12]
        self.reconnects = 0
        self._redis = open_redis(url)
        # Subscriptions get a pool of their own: a connection in subscribed
        # mode must never be handed to a publish.
        self._subscriber = open_redis(url)
        self._pubsub = self._subscriber.pubsub()
        self._topics: set[str] = set()
        self._deliver: Deliver | None = None
        self._reader: asyncio.Task[None] | None = None
        # Subscriptions sent and not yet confirmed, resolved by the reader.
        self._confirming: dict[bytes, asyncio.Future[None]] = {}
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
        """Returns once Redis has the subscription, so that the first member of a topic
        hears whatever is published after its `join` returned.

        The wait is bounded: while Redis is slow or away, the reader subscribes
        every topic again when it is back.
        """
        self._topics.add(topic)
        channel = PREFIX + topic.encode()
        confirmed = asyncio.get_running_loop().create_future()
        self._confirming[channel] = confirmed
        try:
            await self._pubsub.subscribe(channel)
            if self._live:
                await asyncio.wait_for(asyncio.shield(confirmed), CONFIRM_SECONDS)
        except (*UNREACHABLE, TimeoutError):
            pass
        finally:
            if self._confirming.get(channel) is confirmed:
                del self._confirming[channel]

    async def unsubscribe(self, topic: str) -> None:
        self._topics.discard(topic)
        with contextlib.suppress(*UNREACHABLE):
            await self._pubsub.unsubscribe(PREFIX + topic.encode())

    async def publish(self, topic: str, frame: Frame, exclude: str | None = None) -> None:
        # Not live (resubscribing): delivered here directly, and marked so that
        # this process skips it if its subscriptions are back before Redis
        # relays it. Read before the await: the reader may go live meanwhile.
        live = self._live
        published = False
        try:
            envelope = encode(frame, exclude, skip="" if live else self.node)
            await self._redis.publish(PREFIX + topic.encode(), envelope)
            published = True
        except UNREACHABLE as exc:
            logger.warning("Redis unreachable (%s): %r delivered in this process only", exc, topic)
        if not (published and live) and self._deliver is not None and topic in self._topics:
            self._deliver(topic, frame, exclude)

    async def close(self) -> None:
        await cancel_and_wait(self._reader)
        with contextlib.suppress(*UNREACHABLE):
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        for client in (self._redis, self._subscriber):
            with contextlib.suppress(*UNREACHABLE):
                await client.aclose()

    async def _read(self) -> None:
        backoff = 0.1
        while True:
            try:
                if not self._live:
                    await self._resubscribe()
                message = await self._pubsub.get_message(timeout=1.0)
                backoff = 0.1
            # Not only UNREACHABLE: redis-py under uvloop can raise RuntimeError
            # on a transport that closed under it. The reader must outlive it.
            except Exception as exc:
                self._live = False
                self.reconnects += 1
                metrics.BROKER_RECONNECTS.inc()
                await self._drop_connection()
                delay = min(backoff, MAX_BACKOFF_SECONDS) * random.uniform(0.5, 1.0)  # noqa: S311
                logger.warning("Redis unreachable (%s); reconnecting in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                backoff *= 2
                continue
            if message is not None:
                self._handle(message)

    async def _resubscribe(self) -> None:
        """Subscribe every topic again, and go live once Redis has them.

        Live means publishes stop being delivered here directly, so it must
        wait until the subscriptions are in force: the PING's answer comes
        after theirs, on the same connection.
        """
        await self._pubsub.subscribe(CONTROL, *(PREFIX + topic.encode() for topic in self._topics))
        await self._pubsub.ping()
        while True:
            message = await self._pubsub.get_message(timeout=1.0)
            if message is not None and message["type"] == "pong":
                break
            if message is not None:
                self._handle(message)
        self._live = True
        logger.info("Redis reachable: %d topics subscribed again", len(self._topics))

    async def _drop_connection(self) -> None:
        """Disconnect the subscriber's socket, so the next attempt opens a fresh one."""
        connection = self._pubsub.connection
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.disconnect()

    def _handle(self, message: dict[str, Any]) -> None:
        if message["type"] == "message":
            self._dispatch(message["channel"], message["data"])
        elif message["type"] == "subscribe":
            confirmed = self._confirming.pop(message["channel"], None)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)

    def _dispatch(self, channel: bytes, data: bytes) -> None:
        if self._deliver is None or channel == CONTROL:
            return
        try:
            frame, exclude, skip = decode(data)
        except (ValueError, UnicodeDecodeError):
            logger.warning("ignoring a malformed message on %r", channel)
            return
        if skip == self.node:  # delivered here already, while not live
            return
        self._deliver(channel[len(PREFIX) :].decode(), frame, exclude)
