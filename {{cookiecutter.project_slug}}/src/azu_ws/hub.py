"""The hub: this process's connections, the topics they joined, and fan-out through the broker
(docs/ARCHITECTURE.md follows a message through it)."""

import asyncio
import logging

from pydantic import BaseModel
from starlette.websockets import WebSocket

from . import metrics
from .auth import User
from .broker import Broker
from .catchup import Backlog, CatchUp, JoinedAt
from .close_codes import WS_1012_SERVICE_RESTART
from .connection import Connection
from .errors import ClientError
from .formats import CURRENT
from .frames import Envelope, Position
from .gap_repair import GapRepair
from .history import Replay
from .messages import Published
from .outbox import DEFAULT_MAX_BYTES
from .presence import Presence
from .revocation import ORDERS_TOPIC, DisconnectOrder, Revocations
from .writer import Writer

logger = logging.getLogger(__name__)

ALL_TOPIC = "all"
# The hub's own topics, for whoever is connected now: never kept.
UNRECORDED_TOPICS = (ALL_TOPIC, ORDERS_TOPIC)
USER_PREFIX = "user:"


def user_topic(user_id: str) -> str:
    """The topic every socket of `user_id` is on."""
    return USER_PREFIX + user_id


class Hub:
    """Connections of this process by topic, publishing through a broker."""

    def __init__(
        self,
        broker: Broker,
        presence: Presence,
        *,
        send_queue_size: int,
        send_queue_bytes: int = DEFAULT_MAX_BYTES,
        max_topics: int = 100,
        batched: bool = True,
        write_format: int = CURRENT,
    ) -> None:
        self.broker = broker
        self.presence = presence
        self.max_topics = max_topics
        self.connections: set[Connection] = set()
        self._send_queue_size = send_queue_size
        self._send_queue_bytes = send_queue_bytes
        # Whether sockets may write batches straight to the server's transport (WS_BATCHED_WRITES).
        self._batched = batched
        self._writer = Writer()
        self._topics: dict[str, set[Connection]] = {}
        # Subscriptions on their way to the broker: a second joiner waits for them too.
        self._subscribing: dict[str, asyncio.Future[bool]] = {}
        self._catchup = CatchUp(send_queue_size)
        self._gap_repair = GapRepair(broker.history, self._fan_out, self._lost)
        self._revocations = Revocations(write_format)
        self._unrecorded_prefixes: tuple[str, ...] = (USER_PREFIX,)

    def keep_no_history(self, prefix: str) -> None:
        """Topics beginning with `prefix` are never numbered, kept or replayed.

        Declared by whoever owns those topics, before they are used: a facility
        with a store of its own (the notifier keeps notifications until they are
        acknowledged), or state only whoever is connected now needs (cursors,
        typing). Every other topic keeps the `Published` messages sent to it.
        """
        if prefix not in self._unrecorded_prefixes:
            self._unrecorded_prefixes += (prefix,)

    def keeps_history(self, topic: str) -> bool:
        """True for the topics whose `Published` messages are numbered, kept and replayed."""
        return topic not in UNRECORDED_TOPICS and not topic.startswith(self._unrecorded_prefixes)

    async def start(self) -> None:
        await self.broker.start(self._deliver)
        await self.broker.subscribe(ORDERS_TOPIC)
        await self.presence.start(self._announce)

    async def stop(self) -> None:
        await self.presence.close()
        await self.broker.close()

    async def connect(self, websocket: WebSocket, user: User, channel: str = "") -> Connection:
        """Register an accepted socket: it can now be sent to, and hears `all` and its user.

        `channel` is its route pattern, for the metrics' labels.
        """
        connection = Connection(
            websocket,
            user,
            queue_size=self._send_queue_size,
            queue_bytes=self._send_queue_bytes,
            channel=channel,
            writer=self._writer,
            batched=self._batched,
        )
        metrics.CONNECTIONS_BY_WIRE.labels("batched" if connection.batched else "asgi").inc()
        self.connections.add(connection)
        # Counted for the per-user cap before the first await (`_enter` adds
        # the member before it subscribes).
        try:
            await self._enter(connection, user_topic(user.id))
            await self._enter(connection, ALL_TOPIC)
        except BaseException:
            await self.disconnect(connection)
            await connection.wait_closed()
            raise
        return connection

    async def disconnect(self, connection: Connection) -> None:
        """Forget a socket: its presence and every topic it joined.

        The caller then waits for the socket's close (`Connection.wait_closed`):
        it is out of every count and topic before its close takes its last seconds.
        """
        self.connections.discard(connection)
        for topic in list(connection.presence):
            await self.untrack(connection, topic)
        for topic in list(connection.topics):
            await self.leave(connection, topic)

    async def track(
        self, connection: Connection, topic: str, farewell: BaseModel | None = None
    ) -> bool:
        """Mark the socket's user present on `topic`; True if the user just arrived.

        `farewell` is published to `topic` when the user's last socket there
        is untracked, or its process dies (cluster-wide presence).
        """
        frame = farewell.model_dump_json() if farewell is not None else None
        connection.presence[topic] = frame
        return await self.presence.track(topic, connection.user.id, connection.id, frame)

    async def untrack(self, connection: Connection, topic: str) -> bool:
        """Withdraw the socket's presence; True if that was the user's last socket there."""
        if topic not in connection.presence:
            return False
        farewell = connection.presence.pop(topic)
        left = await self.presence.untrack(topic, connection.user.id, connection.id)
        if left and farewell is not None:
            await self.broker.publish(Envelope(topic, farewell, connection.sender_id))
        return left

    async def _enter(self, connection: Connection, topic: str) -> bool:
        """Deliver `topic` to the socket; beyond `max_topics` (its own two aside), refuse.

        Returns whether the broker confirmed the subscription (Redis may not,
        while it is away): only then is nothing published from now on missed.
        """
        if topic not in connection.topics and len(connection.topics) >= self.max_topics + 2:
            raise ClientError(
                "too_many_subscriptions", f"At most {self.max_topics} topics per connection"
            )
        members = self._topics.get(topic)
        first = members is None
        if members is None:
            members = self._topics[topic] = set()
        members.add(connection)
        connection.topics.add(topic)
        if not first:
            pending = self._subscribing.get(topic)
            return await asyncio.shield(pending) if pending is not None else True
        pending = self._subscribing[topic] = asyncio.get_running_loop().create_future()
        confirmed = False
        try:
            confirmed = await self.broker.subscribe(topic)
        finally:
            del self._subscribing[topic]
            pending.set_result(confirmed)
        return confirmed

    async def join(
        self,
        connection: Connection,
        topic: str,
        since: Position | None = None,
        backlog: Backlog | None = None,
    ) -> JoinedAt:
        """Join `topic` and catch up: from `since`, what the topic's history (or `backlog`,
        a store of its own) holds goes first, then its live frames, none twice.

        Those frames are held until `catch_up(connection)`, so that what the
        channel pushes in between (its greeting) comes first. A socket already
        on the topic has been receiving it: `since` is ignored.
        """
        read = backlog or self.broker.history
        if backlog is None and not self.keeps_history(topic):
            await self._enter(connection, topic)
            return JoinedAt(None, None)
        if topic in connection.topics:
            return JoinedAt((await read(topic, None)).position, None)
        self._catchup.start(connection, topic)
        try:
            in_force = await self._enter(connection, topic)
        except BaseException:
            self._catchup.stop(connection, topic)
            raise
        try:
            found = await read(topic, since)
        except BaseException:
            await self.leave(connection, topic)
            raise
        if not in_force and since is not None:  # what was published meanwhile may be missed
            found = Replay(found.position, False, [])
        # A store is written before its frame is published (awaits between): its
        # frames can come late and out of order, so what the read covers is
        # dropped for good. The broker's history is written as it publishes: only
        # a late relay (Redis) can bring back a frame the read covered.
        late = backlog is not None or self.broker.relays_late
        read_at = found.position if late else None
        self._catchup.read(connection, topic, found.frames, read_at, for_good=backlog is not None)
        return JoinedAt(found.position, found.recovered)

    def is_catching_up(self, connection: Connection) -> bool:
        """True from `join` until the socket's live frames are past what it was sent."""
        return connection in self._catchup

    async def catch_up(self, connection: Connection) -> None:
        """Send what `join` held back, in order; then the socket is live."""
        await self._catchup.send_held(connection)

    async def leave(self, connection: Connection, topic: str) -> None:
        self._catchup.stop(connection, topic)
        connection.topics.discard(topic)
        members = self._topics.get(topic)
        if members is None:
            return
        members.discard(connection)
        if not members:
            del self._topics[topic]
            self._gap_repair.forget(topic)
            await self.broker.unsubscribe(topic)

    async def publish(
        self,
        topic: str,
        message: BaseModel | bytes,
        *,
        exclude: Connection | None = None,
        position: Position | None = None,
    ) -> None:
        """Serialise once and publish to every subscriber of `topic` in every process.

        `exclude` skips one socket: the sender, for "everyone else" broadcasts.
        `position` is the message's place in a store of its own (a notification's id).
        """
        frame = message if isinstance(message, bytes) else message.model_dump_json()
        record = isinstance(message, Published) and self.keeps_history(topic)
        envelope = Envelope(topic, frame, exclude.sender_id if exclude else None, position)
        await self.broker.publish(envelope, record=record)

    async def disconnect_user(self, user_id: str, code: int, reason: str) -> int:
        """Close every socket of `user_id`, in every process (logout, ban).

        Tokens issued before now are refused from then on, at the handshake
        and in band, so the same token cannot simply reconnect. Returns how
        many sockets this process closed; the others close theirs as the
        order reaches them (at once, through the broker).
        """
        order = self._revocations.order(user_id, code, reason)
        closed = self._carry_out(order)
        await self.broker.publish(Envelope(ORDERS_TOPIC, self._revocations.written(order)))
        return closed

    def _carry_out(self, order: DisconnectOrder) -> int:
        """Carry out a disconnect order here; the same order twice changes nothing."""
        self._revocations.record(order)
        sockets = self.members(user_topic(order.user))
        for connection in sockets:
            connection.close(order.code, order.reason)
        return len(sockets)

    @property
    def topic_count(self) -> int:
        """How many topics have local members."""
        return len(self._topics)

    def is_revoked(self, user: User) -> bool:
        """True if the user was disconnected after this token was issued."""
        return self._revocations.is_revoked(user)

    def members(self, topic: str) -> frozenset[Connection]:
        """The local connections on `topic`."""
        return frozenset(self._topics.get(topic, ()))

    async def _announce(self, topic: str, frame: str) -> None:
        await self.broker.publish(Envelope(topic, frame))

    def _deliver(self, envelope: Envelope) -> None:
        if envelope.topic == ORDERS_TOPIC:
            if (order := self._revocations.read(envelope.frame)) is not None:
                self._carry_out(order)
        elif not self._gap_repair.take(envelope):
            self._fan_out(envelope)

    def _fan_out(self, envelope: Envelope) -> None:
        catching = self._catchup.on(envelope.topic)
        frame, exclude = envelope.frame, envelope.exclude
        with self._writer.broadcast():
            for connection in self._topics.get(envelope.topic, ()):
                if connection.sender_id == exclude:
                    continue
                if catching is not None and connection in catching:
                    self._catchup.deliver(connection, envelope)
                else:
                    connection.send_frame(frame)

    def _lost(self, topic: str) -> None:
        """Messages of `topic` never reached this process: its sockets resume elsewhere."""
        for connection in self.members(topic):
            connection.close(WS_1012_SERVICE_RESTART, "Messages were lost: resume")
