"""The Redis broker: pub/sub routed by topic, and history in Redis, shared by every process
(docs/ARCHITECTURE.md, Scale-out with Redis)."""

import asyncio
import contextlib
import itertools
import logging
import random
import time
import uuid
from typing import Any

from redis.exceptions import OutOfMemoryError

from .. import metrics
from ..formats import CURRENT, UnknownFormat
from ..frames import Deliver, Envelope, Position
from ..history import HistoryKept, HistoryLimits, Replay, new_epoch, replay, stamp, stamp_prefix
from ..log_filters import SparseLines
from ..tasks import cancel_and_wait
from .client import UNREACHABLE, open_redis
from .codec import decode, encode, header, kept_entry
from .keys import IDLE_CHANNEL, PREFIX, history_keys, record_key, topic_channel
from .scripts import RECORD, SINCE

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 5.0
# How long `subscribe` waits for Redis to confirm, at most: the subscriber
# connection's reply timeout (redis/client.py). A stalled Redis that answers
# within it loses nothing; one that drops the connection ends the wait at once.
CONFIRM_SECONDS = 5.0

# How long a publish's id is kept, so that a RECORD asked again (its reply was
# lost) is answered from the first run instead of numbering the message twice:
# the ask again comes within the reply timeout (5 s) of the first. One small
# key per recorded publish, for that long.
RECORD_ID_MS = 15_000
# How long a publish delivered here directly is remembered, so that its relay,
# should it come anyway, is not delivered twice.
DELIVERED_HERE_SECONDS = 60.0
# While Redis is full, every recorded publish is refused: a few lines a second at most.
_FULL_LINES = SparseLines("publishes to a full Redis")


class RedisBroker:
    """Topic-routed publish/subscribe over Redis (redis.asyncio)."""

    relays_late = True

    def __init__(
        self, url: str, limits: HistoryLimits | None = None, *, write_format: int = CURRENT
    ) -> None:
        self.url = url
        # The format this process writes (REDIS_FORMAT); it reads this one and the one before.
        self.write_format = write_format
        self._publishes = itertools.count(1)
        # Publishes awaiting Redis's answer, by id: True once their relay came back.
        self._in_flight: dict[str, bool] = {}
        # Publishes delivered here directly after Redis failed to answer, by id, with
        # when to forget them: their relay, should Redis have taken them, is dropped.
        self._delivered_here: dict[str, float] = {}
        limits = limits or HistoryLimits()
        self._size = limits.size
        # In milliseconds, for PEXPIRE: the messages', and the position's.
        self._ttl_ms = int(limits.ttl * 1000)
        self._position_ttl_ms = int(limits.position_ttl * 1000)
        self.node = uuid.uuid4().hex[:12]
        self.reconnects = 0
        self._redis = open_redis(url)
        self._record = self._redis.register_script(RECORD)
        self._since = self._redis.register_script(SINCE)
        # Subscriptions get a pool of their own: a connection in subscribed
        # mode must never be handed to a publish.
        self._subscriber = open_redis(url)
        self._pubsub = self._subscriber.pubsub()
        self._topics: set[str] = set()
        self._deliver: Deliver | None = None
        self._reader: asyncio.Task[None] | None = None
        # Subscriptions sent and not yet confirmed, resolved by the reader: True when
        # Redis confirms, False when the reader loses its connection.
        self._confirming: dict[bytes, asyncio.Future[bool]] = {}
        # False from a read failure until the subscriptions are back: publishes
        # meanwhile are also delivered here directly, or no one here gets them.
        self._live = False

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        try:
            await self._pubsub.subscribe(IDLE_CHANNEL)
            self._live = True
        except UNREACHABLE as exc:
            logger.warning("Redis at %s is unreachable (%s); retrying", self.url, exc)
        self._reader = asyncio.create_task(self._read(), name="redis-broker-reader")

    async def subscribe(self, topic: str) -> bool:
        """Returns once Redis has the subscription, so that the first member of a topic
        hears whatever is published after its `join` returned: True.

        While Redis is slow, for up to CONFIRM_SECONDS; while it is away, not at
        all: the reader subscribes every topic again when it is back. False then.
        """
        self._topics.add(topic)
        if not self._connected():
            return False
        channel = topic_channel(topic)
        confirmed: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._confirming[channel] = confirmed
        try:
            await self._pubsub.subscribe(channel)
            await asyncio.wait_for(asyncio.shield(confirmed), CONFIRM_SECONDS)
        except TimeoutError:
            pass
        except Exception as exc:  # any failure: the reader starts over
            self._start_over(exc)
        finally:
            if self._confirming.get(channel) is confirmed:
                del self._confirming[channel]
        return confirmed.done() and confirmed.result()

    async def unsubscribe(self, topic: str) -> None:
        self._topics.discard(topic)
        if not self._connected():
            return  # the reader's resubscription leaves it out
        try:
            await self._pubsub.unsubscribe(topic_channel(topic))
        except Exception as exc:  # any failure: the reader starts over
            self._start_over(exc)

    def _connected(self) -> bool:
        """Whether the subscriber's connection is up, subscribed and the reader's.

        Only then may `subscribe` and `unsubscribe` use it: a command on a
        connection that is down makes redis-py reconnect it from the caller's
        coroutine, and two coroutines reconnecting one socket interleave their
        handshakes (the wrong replies, "readuntil() called while another
        coroutine is already waiting"). The reader alone reconnects.
        """
        connection = self._pubsub.connection
        return self._live and connection is not None and connection.is_connected

    def _start_over(self, exc: Exception) -> None:
        """A command on the subscriber failed: whatever it left on the connection, the
        reader drops it and subscribes every topic again on a fresh one."""
        if self._live:
            logger.warning("Redis subscriber failed (%s); subscribing again", exc)
        self._live = False
        self._give_up_confirming()

    async def publish(self, envelope: Envelope, *, record: bool = False) -> None:
        # Not live (resubscribing): delivered here directly, and marked so that
        # this process skips it if its subscriptions are back before Redis
        # relays it. Read before the await: the reader may go live meanwhile.
        live = self._live
        skip = "" if live else self.node
        publish_id = f"{self.node}-{next(self._publishes)}"
        published = False
        self._in_flight[publish_id] = False
        try:
            if record and isinstance(envelope.frame, str):
                envelope = await self._publish_recorded(envelope, skip, publish_id)
            else:
                message = encode(
                    envelope, skip=skip, publish_id=publish_id, version=self.write_format
                )
                await self._redis.publish(topic_channel(envelope.topic), message)
            published = True
        except OutOfMemoryError as exc:
            line = f"Redis is full ({exc}): {envelope.topic!r} delivered in this process only"
            if (admitted := _FULL_LINES.admit(line)) is not None:
                logger.warning("%s", admitted)
        except UNREACHABLE as exc:
            topic = envelope.topic
            logger.warning("Redis unreachable (%s): %r delivered in this process only", exc, topic)
        finally:
            relayed = self._in_flight.pop(publish_id)
        if relayed:  # Redis took it after all, and its relay was delivered here
            return
        if not published:
            self._remember_delivered_here(publish_id)  # its relay, should it come, is dropped
        elif live:
            return  # Redis relays it here, as to every process
        deliver = self._deliver
        if deliver is not None and envelope.topic in self._topics:
            deliver(envelope)

    async def _publish_recorded(self, envelope: Envelope, skip: str, publish_id: str) -> Envelope:
        """Stamp, keep and publish in one step (the RECORD script), exactly once."""
        topic, frame, exclude = envelope.topic, envelope.frame, envelope.exclude
        assert isinstance(frame, str)  # only text frames are recorded
        before, after = header(frame, exclude, skip, publish_id, self.write_format)
        keys = [*history_keys(topic), record_key(publish_id)]
        arguments: list[str | bytes | int] = [
            new_epoch(),
            self.write_format,
            self._size,
            self._ttl_ms,
            self._position_ttl_ms,
            topic_channel(topic),
            before,
            after,
            stamp_prefix(frame),
            exclude or "",
            RECORD_ID_MS,
        ]
        try:
            epoch, offset, _ = await self._record(keys=keys, args=arguments)
        except OutOfMemoryError:
            raise  # refused, not lost: it did not run, and a full Redis stays full
        except UNREACHABLE as exc:
            # It may have run with its reply lost: asked again under the same id,
            # it answers from that run instead of numbering the message twice.
            logger.warning("Redis did not answer a publish to %r (%s): asking again", topic, exc)
            epoch, offset, _ = await self._record(keys=keys, args=arguments)
        position = Position(epoch.decode(), int(offset))
        return Envelope(topic, stamp(frame, position), exclude, position)

    def _remember_delivered_here(self, publish_id: str) -> None:
        now = time.monotonic()
        if len(self._delivered_here) > 1000:  # an outage: forget what is past its time
            expired = [key for key, until in self._delivered_here.items() if until < now]
            for key in expired:
                del self._delivered_here[key]
        self._delivered_here[publish_id] = now + DELIVERED_HERE_SECONDS

    def history_kept(self) -> HistoryKept:
        return HistoryKept(0, 0)  # in Redis, bounded by its streams' caps and `maxmemory`

    async def history(self, topic: str, since: Position | None) -> Replay:
        """Read from Redis. Unreachable, the position is unknown, and nothing is recovered."""
        try:
            epoch, offset, entries = await self._since(
                keys=history_keys(topic),
                args=[
                    new_epoch(),
                    self.write_format,
                    self._position_ttl_ms,
                    since.epoch if since else "",
                    since.offset if since else -1,
                    self._ttl_ms,
                ],
            )
        except UNREACHABLE as exc:
            logger.warning("Redis unreachable (%s): no history of %r", exc, topic)
            return Replay(None, False if since else None, [])
        position = Position(epoch.decode(), int(offset))
        try:
            kept = [kept_entry(topic, position.epoch, *entry) for entry in entries]
        except UnknownFormat as exc:
            logger.warning("the history of %r cannot be replayed: %s", topic, exc)
            return Replay(position, False if since else None, [])
        return replay(position, since, kept)

    async def close(self) -> None:
        await cancel_and_wait(self._reader)
        with contextlib.suppress(*UNREACHABLE):
            # Typed from redis 8.2 on; untyped in the 8.0 the floor allows.
            await self._pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
        for client in (self._redis, self._subscriber):
            with contextlib.suppress(*UNREACHABLE):
                await client.aclose()

    async def _read(self) -> None:
        backoff = 0.1
        while True:
            try:
                if not self._live:
                    await self._drop_connection()  # whatever state a failure left it in
                    await self._resubscribe()
                message = await self._pubsub.get_message(timeout=1.0)
                backoff = 0.1
            # Not only UNREACHABLE: redis-py under uvloop can raise RuntimeError
            # on a transport that closed under it. The reader must outlive it.
            except Exception as exc:
                self._live = False
                self._give_up_confirming()
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

    def _give_up_confirming(self) -> None:
        """The connection the subscriptions were sent on is gone: no answer will come."""
        for confirmed in self._confirming.values():
            if not confirmed.done():
                confirmed.set_result(False)

    async def _resubscribe(self) -> None:
        """Subscribe every topic again, and go live once Redis has them.

        Live means publishes stop being delivered here directly, so it must
        wait until the subscriptions are in force: the PING's answer comes
        after theirs, on the same connection. A topic joined meanwhile may
        have missed both its own SUBSCRIBE and this one: then, again.
        """
        while True:
            topics = set(self._topics)
            channels = [topic_channel(topic) for topic in topics]
            await self._pubsub.subscribe(IDLE_CHANNEL, *channels)
            # redis-py subscribes again, on connecting, what it was subscribed
            # to: topics left while Redis was away are dropped here.
            if left := set(self._pubsub.channels) - {IDLE_CHANNEL, *channels}:
                await self._pubsub.unsubscribe(*left)
            await self._pubsub.ping()
            while True:
                message = await self._pubsub.get_message(timeout=1.0)
                if message is not None and message["type"] == "pong":
                    break
                if message is not None:
                    self._handle(message)
            if self._topics <= topics:
                break
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
                confirmed.set_result(True)

    def _dispatch(self, channel: bytes, data: bytes) -> None:
        if self._deliver is None or channel == IDLE_CHANNEL:
            return
        try:
            relayed = decode(channel[len(PREFIX) :].decode(), data)
        except UnknownFormat as exc:
            logger.warning("ignoring a message on %r: %s", channel, exc)
            return
        except (ValueError, UnicodeDecodeError, KeyError, TypeError):
            logger.warning("ignoring a malformed message on %r", channel)
            return
        if relayed.skip == self.node:  # delivered here already, while not live
            return
        publish_id = relayed.publish_id
        if publish_id in self._in_flight:  # its publisher still waits for Redis's answer
            self._in_flight[publish_id] = True
        elif publish_id and self._delivered_here.pop(publish_id, 0.0):
            return  # delivered here already, when Redis did not answer its publish
        self._deliver(relayed.envelope)
