"""The Redis broker: pub/sub routed by topic, and history in Redis, shared by every process
(docs/ARCHITECTURE.md, Scale-out with Redis)."""

import asyncio
import contextlib
import logging
import random
import uuid
from typing import Any

from . import metrics
from .frames import Deliver, Envelope, Frame, Position
from .history import HistoryLimits, Replay, new_epoch, replay, stamp_prefix
from .redis_client import UNREACHABLE, open_redis
from .tasks import cancel_and_wait

logger = logging.getLogger(__name__)

PREFIX = b"azu:"
# Subscribed from the start and never published to, so that the reader always
# has a subscription to read (the hub's orders travel on a topic of their own).
IDLE_CHANNEL = PREFIX + b"control"
MAX_BACKOFF_SECONDS = 5.0
# How long `subscribe` waits for Redis to confirm before returning anyway.
CONFIRM_SECONDS = 1.0

# Both scripts begin here. KEYS: the topic's meta hash, its stream; ARGV[1]:
# an epoch to start if the topic has none (new, or its history was lost).
EPOCH = """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'offset', 0)
end
"""

# ARGV: (epoch), size, ttl, meta ttl, the pub/sub channel, the envelope's
# header, the frame's stamp prefix. Returns the epoch, the offset and the
# stamped frame.
RECORD = (
    EPOCH
    + """
local offset = string.format('%d', redis.call('HINCRBY', KEYS[1], 'offset', 1))
local frame = ARGV[7] .. '"offset":' .. offset .. ',"epoch":"' .. epoch .. '"}'
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], '0-' .. offset, 'f', frame)
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[6] .. ' ' .. epoch .. ':' .. offset .. '\\n' .. frame)
return {epoch, tonumber(offset), frame}
"""
)

# ARGV: (epoch), meta ttl, the client's epoch and offset ('' and -1 for
# none), ttl. Returns the epoch, the offset, and the entries after the
# client's offset if its epoch is current. A topic never published to keeps
# its position for ttl only.
SINCE = (
    EPOCH
    + """
local offset = tonumber(redis.call('HGET', KEYS[1], 'offset'))
redis.call('PEXPIRE', KEYS[1], offset > 0 and ARGV[2] or ARGV[5])
local since = tonumber(ARGV[4])
local entries = {}
if epoch == ARGV[3] and since >= 0 and since < offset then
  entries = redis.call('XRANGE', KEYS[2], string.format('0-%d', since + 1), '+')
end
return {epoch, offset, entries}
"""
)


def encode(
    frame: Frame, exclude: str | None, skip: str = "", position: Position | None = None
) -> bytes:
    """`t` or `b` (text or binary), the process that must skip it (if any), a space,
    the excluded connection id, then (if recorded) a space and `epoch:offset`, a
    newline, the frame."""
    kind, data = (b"t", frame.encode()) if isinstance(frame, str) else (b"b", frame)
    where = f" {position.epoch}:{position.offset}".encode() if position else b""
    return kind + skip.encode() + b" " + (exclude or "").encode() + where + b"\n" + data


def decode(message: bytes) -> tuple[Frame, str | None, str, Position | None]:
    """The frame, its excluded connection id, the process that must skip it, and its
    position in the topic's history (None if not recorded)."""
    newline = message.index(b"\n")
    skip, _, rest = message[1:newline].decode().partition(" ")
    exclude, _, where = rest.partition(" ")
    position = Position.parse(where) if where else None
    data = message[newline + 1 :]
    frame = data.decode() if message[:1] == b"t" else data
    return frame, exclude or None, skip, position


def history_keys(topic: str) -> list[bytes]:
    """The topic's meta hash and stream."""
    name = topic.encode()
    return [PREFIX + b"history-meta:" + name, PREFIX + b"history:" + name]


class RedisBroker:
    """Topic-routed publish/subscribe over Redis (redis.asyncio)."""

    relays_late = True

    def __init__(self, url: str, limits: HistoryLimits | None = None) -> None:
        self.url = url
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
        # Subscriptions sent and not yet confirmed, resolved by the reader.
        self._confirming: dict[bytes, asyncio.Future[None]] = {}
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

        The wait is bounded: while Redis is slow or away, the reader subscribes
        every topic again when it is back; then this returns False.
        """
        self._topics.add(topic)
        channel = PREFIX + topic.encode()
        confirmed = asyncio.get_running_loop().create_future()
        self._confirming[channel] = confirmed
        try:
            await self._pubsub.subscribe(channel)
            if self._live:
                await asyncio.wait_for(asyncio.shield(confirmed), CONFIRM_SECONDS)
        # RuntimeError: redis-py reconnecting the subscriber for the reader at
        # the same moment ("readuntil() called while another coroutine is
        # already waiting"). The reader's resubscription covers the topic.
        except (*UNREACHABLE, TimeoutError, RuntimeError):
            pass
        finally:
            if self._confirming.get(channel) is confirmed:
                del self._confirming[channel]
        return confirmed.done()

    async def unsubscribe(self, topic: str) -> None:
        self._topics.discard(topic)
        with contextlib.suppress(*UNREACHABLE):
            await self._pubsub.unsubscribe(PREFIX + topic.encode())

    async def publish(self, envelope: Envelope, *, record: bool = False) -> None:
        # Not live (resubscribing): delivered here directly, and marked so that
        # this process skips it if its subscriptions are back before Redis
        # relays it. Read before the await: the reader may go live meanwhile.
        live = self._live
        published = False
        topic, frame, exclude, position = (
            envelope.topic,
            envelope.frame,
            envelope.exclude,
            envelope.position,
        )
        skip = "" if live else self.node
        try:
            if record and isinstance(frame, str):
                frame, position = await self._publish_recorded(topic, frame, exclude, skip)
                envelope = Envelope(topic, frame, exclude, position)
            else:
                await self._redis.publish(
                    PREFIX + topic.encode(), encode(frame, exclude, skip, position)
                )
            published = True
        except UNREACHABLE as exc:
            logger.warning("Redis unreachable (%s): %r delivered in this process only", exc, topic)
        if not (published and live) and self._deliver is not None and topic in self._topics:
            self._deliver(envelope)

    async def _publish_recorded(
        self, topic: str, frame: str, exclude: str | None, skip: str
    ) -> tuple[str, Position]:
        """Stamp, keep and publish in one step (the RECORD script)."""
        header = encode("", exclude, skip).removesuffix(b"\n")
        epoch, offset, stamped = await self._record(
            keys=history_keys(topic),
            args=[
                new_epoch(),
                self._size,
                self._ttl_ms,
                self._position_ttl_ms,
                PREFIX + topic.encode(),
                header,
                stamp_prefix(frame),
            ],
        )
        return stamped.decode(), Position(epoch.decode(), int(offset))

    async def history(self, topic: str, since: Position | None) -> Replay:
        """Read from Redis. Unreachable, the position is unknown, and nothing is recovered."""
        try:
            epoch, offset, entries = await self._since(
                keys=history_keys(topic),
                args=[
                    new_epoch(),
                    self._position_ttl_ms,
                    since.epoch if since else "",
                    since.offset if since else -1,
                    self._ttl_ms,
                ],
            )
        except UNREACHABLE as exc:
            logger.warning("Redis unreachable (%s): no history of %r", exc, topic)
            return Replay(None, False if since else None, [])
        kept = [(int(entry_id.split(b"-")[1]), fields[1].decode()) for entry_id, fields in entries]
        return replay(Position(epoch.decode(), int(offset)), since, kept)

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
        after theirs, on the same connection. A topic joined meanwhile may
        have missed both its own SUBSCRIBE and this one: then, again.
        """
        while True:
            topics = set(self._topics)
            channels = [PREFIX + topic.encode() for topic in topics]
            await self._pubsub.subscribe(IDLE_CHANNEL, *channels)
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
                confirmed.set_result(None)

    def _dispatch(self, channel: bytes, data: bytes) -> None:
        if self._deliver is None or channel == IDLE_CHANNEL:
            return
        try:
            frame, exclude, skip, position = decode(data)
        except (ValueError, UnicodeDecodeError):
            logger.warning("ignoring a malformed message on %r", channel)
            return
        if skip == self.node:  # delivered here already, while not live
            return
        self._deliver(Envelope(channel[len(PREFIX) :].decode(), frame, exclude, position))
