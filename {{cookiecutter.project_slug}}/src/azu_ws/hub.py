"""The hub: this process's connections, the topics they joined, and fan-out through the broker.

Fan-out policy: a message is serialised once, published once, and handed to
each local subscriber's bounded queue without waiting (`Connection.send_frame`).
A broadcast never awaits any recipient, so a slow client cannot hold up the
others; a client whose queue overflows is closed with 4008 instead.

Every connection is also on two topics of its own, so that the same mechanism
(and the same Redis broker) serves every verb: `user:<id>` reaches all of
one user's sockets, and `all` reaches everyone. Every hub also listens on
`hub:control`, where orders for every process travel (`disconnect_user`).

Every other topic keeps a history (`history.py`) of the `Published`
messages sent to it (not of notifications, which have a store of their
own): `follow` joins a topic from where a client left off, replays what it
missed, then goes live with no gap and no duplicate (`catching.py`); and a
gap in what reaches this process is filled from the history (`gaps.py`).
"""

import asyncio
import logging
import time

from pydantic import BaseModel, ValidationError
from starlette.websockets import WebSocket

from .auth import User
from .broker import Broker
from .catching import CatchingUp, Followed
from .close_codes import WS_1012_SERVICE_RESTART
from .connection import Connection, Frame
from .errors import ClientError
from .flush import Flusher
from .gaps import Gaps
from .history import Position, Replay
from .messages import Published
from .outbox import DEFAULT_MAX_BYTES
from .presence import Presence

logger = logging.getLogger(__name__)

ALL_TOPIC = "all"
CONTROL_TOPIC = "hub:control"
# Topics without history: a socket's own (for whoever is connected now), and
# notifications (kept in their own store until acknowledged).
UNRECORDED_PREFIXES = ("user:", "notifications:")


def keeps_history(topic: str) -> bool:
    """True for the topics whose messages are numbered, kept and replayed."""
    return topic not in (ALL_TOPIC, CONTROL_TOPIC) and not topic.startswith(UNRECORDED_PREFIXES)


class DisconnectOrder(BaseModel):
    """Close every socket of `user` and refuse their tokens issued up to `at`."""

    user: str
    at: float
    code: int
    reason: str


def user_topic(user_id: str) -> str:
    """The topic every socket of `user_id` is on."""
    return f"user:{user_id}"


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
    ) -> None:
        self.broker = broker
        self.presence = presence
        self.max_topics = max_topics
        self.connections: set[Connection] = set()
        self._send_queue_size = send_queue_size
        self._send_queue_bytes = send_queue_bytes
        self._flusher = Flusher()
        self._topics: dict[str, set[Connection]] = {}
        # Subscriptions on their way to the broker: a second joiner waits for them too.
        self._subscribing: dict[str, asyncio.Future[bool]] = {}
        self._catching = CatchingUp(send_queue_size)
        self._gaps = Gaps(broker.history, self._deliver_now, self._lost)
        # user id -> when their sockets were revoked; older tokens are refused.
        self._revoked_before: dict[str, float] = {}

    async def start(self) -> None:
        await self.broker.start(self._deliver)
        await self.broker.subscribe(CONTROL_TOPIC)
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
            flusher=self._flusher,
        )
        self.connections.add(connection)
        # Counted for the per-user cap before the first await (`join` adds
        # the member before it subscribes).
        try:
            await self.join(connection, user_topic(user.id))
            await self.join(connection, ALL_TOPIC)
        except BaseException:
            await self.disconnect(connection)
            await connection.finish()
            raise
        return connection

    async def disconnect(self, connection: Connection) -> None:
        """Forget a socket: its presence and every topic it joined.

        Its writer is the caller's to finish (`Connection.finish`), after this:
        the socket is out of every count and topic before the writer gets its
        last seconds to deliver a close frame.
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
            await self.broker.publish(topic, farewell, connection.id)
        return left

    async def join(self, connection: Connection, topic: str) -> bool:
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

    async def follow(
        self, connection: Connection, topic: str, since: Position | None = None
    ) -> Followed:
        """Join a topic with history, from `since` if the client gives one.

        The topic's frames, the missed ones first, are held back until
        `catch_up(connection)`: so what the channel pushes in between (its
        greeting, with the position) comes before them. A socket already on
        the topic has been receiving it: `since` is ignored. A topic without
        history is simply joined.
        """
        if not keeps_history(topic):
            await self.join(connection, topic)
            return Followed(None, None)
        if topic in connection.topics:
            return Followed((await self.broker.history(topic, None)).position, None)
        self._catching.start(connection, topic)
        try:
            in_force = await self.join(connection, topic)
        except BaseException:
            self._catching.stop(connection, topic)
            raise
        try:
            found = await self.broker.history(topic, since)
        except BaseException:
            await self.leave(connection, topic)
            raise
        if not in_force and since is not None:  # what was published meanwhile may be missed
            found = Replay(found.position, False, [])
        # Only a late relay can bring a frame the read already covered.
        read_at = found.position if self.broker.relays_late else None
        self._catching.read(connection, topic, found.frames, read_at)
        return Followed(found.position, found.recovered)

    def is_catching_up(self, connection: Connection) -> bool:
        """True from `follow` until the socket's relays are past what it was sent."""
        return connection in self._catching

    async def catch_up(self, connection: Connection) -> None:
        """Send what `follow` held back, in order; then the socket is live."""
        await self._catching.catch_up(connection)

    async def leave(self, connection: Connection, topic: str) -> None:
        self._catching.stop(connection, topic)
        connection.topics.discard(topic)
        members = self._topics.get(topic)
        if members is None:
            return
        members.discard(connection)
        if not members:
            del self._topics[topic]
            self._gaps.forget(topic)
            await self.broker.unsubscribe(topic)

    async def publish(
        self, topic: str, message: BaseModel | bytes, *, exclude: Connection | None = None
    ) -> None:
        """Serialise once and publish to every subscriber of `topic` in every process.

        `exclude` skips one socket: the sender, for "everyone else" broadcasts.
        """
        frame = message if isinstance(message, bytes) else message.model_dump_json()
        record = isinstance(message, Published) and keeps_history(topic)
        await self.broker.publish(topic, frame, exclude.id if exclude else None, record=record)

    async def disconnect_user(self, user_id: str, code: int, reason: str) -> int:
        """Close every socket of `user_id`, in every process (logout, ban).

        Tokens issued before now are refused from then on, at the handshake
        and in band, so the same token cannot simply reconnect. Returns how
        many sockets this process closed; the others close theirs as the
        order reaches them (at once, through the broker).
        """
        order = DisconnectOrder(user=user_id, at=time.time(), code=code, reason=reason)
        closed = self._obey(order)
        await self.broker.publish(CONTROL_TOPIC, order.model_dump_json(), None)
        return closed

    def _obey(self, order: DisconnectOrder) -> int:
        """Carry out a disconnect order here; the same order twice changes nothing."""
        revoked_at = self._revoked_before.get(order.user, 0.0)
        self._revoked_before[order.user] = max(revoked_at, order.at)
        sockets = self.members(user_topic(order.user))
        for connection in sockets:
            connection.request_close(order.code, order.reason)
        return len(sockets)

    @property
    def topic_count(self) -> int:
        """How many topics have local members."""
        return len(self._topics)

    def is_revoked(self, user: User) -> bool:
        """True if the user was disconnected after this token was issued."""
        revoked_at = self._revoked_before.get(user.id)
        issued_at = user.claims.get("iat", 0)
        return revoked_at is not None and issued_at <= revoked_at

    def members(self, topic: str) -> frozenset[Connection]:
        """The local connections on `topic`."""
        return frozenset(self._topics.get(topic, ()))

    async def _announce(self, topic: str, frame: str) -> None:
        await self.broker.publish(topic, frame, None)

    def _deliver(
        self, topic: str, frame: Frame, exclude: str | None, position: Position | None
    ) -> None:
        if topic == CONTROL_TOPIC:
            self._take_order(frame)
        elif not self._gaps.take(topic, frame, exclude, position):
            self._deliver_now(topic, frame, exclude, position)

    def _deliver_now(
        self, topic: str, frame: Frame, exclude: str | None, position: Position | None
    ) -> None:
        catching = self._catching.on(topic)
        with self._flusher.broadcast():
            for connection in self._topics.get(topic, ()):
                if connection.id == exclude:
                    continue
                if catching is not None and connection in catching:
                    self._catching.deliver(connection, topic, frame, position)
                else:
                    connection.send_frame(frame)

    def _lost(self, topic: str) -> None:
        """Messages of `topic` never reached this process: its sockets resume elsewhere."""
        for connection in self.members(topic):
            connection.request_close(WS_1012_SERVICE_RESTART, "Messages were lost: resume")

    def _take_order(self, frame: Frame) -> None:
        try:
            order = DisconnectOrder.model_validate_json(frame)
        except ValidationError:
            logger.warning("ignoring a malformed order on %s", CONTROL_TOPIC)
            return
        self._obey(order)
