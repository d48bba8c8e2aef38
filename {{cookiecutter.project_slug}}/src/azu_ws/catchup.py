"""Sockets catching up on a topic they just joined: what they missed, then live, none twice."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypedDict

from .close_codes import WS_4008_SLOW_CONSUMER
from .connection import SLOW_CONSUMER_REASON, Connection
from .frames import Envelope, Position
from .history import Replay

# Where a topic's missed frames are read from: `(topic, since)` to where it stands
# and what came after `since` (the broker's history; the notification store).
Backlog = Callable[[str, Position | None], Awaitable[Replay]]


class GreetingFields(TypedDict):
    """What a greeting says of a topic it joined: `Joined(..., **joined.greeting)`."""

    epoch: str | None
    offset: int | None
    recovered: bool | None


@dataclass(frozen=True, slots=True)
class JoinedAt:
    """Where a topic stood when a socket joined it (`Channel.join`)."""

    # None if it could not be read (Redis unreachable): the client cannot resume.
    position: Position | None
    # None without `since`; True if what was missed since then is replayed,
    # False if it cannot be (another epoch, no longer kept, or not certain).
    recovered: bool | None

    @property
    def epoch(self) -> str | None:
        return self.position.epoch if self.position else None

    @property
    def offset(self) -> int | None:
        return self.position.offset if self.position else None

    @property
    def greeting(self) -> GreetingFields:
        """The greeting's `epoch`, `offset` and `recovered`, to unpack into it."""
        return GreetingFields(epoch=self.epoch, offset=self.offset, recovered=self.recovered)


@dataclass(slots=True)
class _Catching:
    missed: list[Envelope] = field(default_factory=list)
    # Live frames waiting for the missed ones to go out; None once they have.
    held: list[Envelope] | None = field(default_factory=list)
    # Where the backlog was read: a live frame it covers is not sent again.
    read_at: Position | None = None
    # Until the first live frame past `read_at` (the broker's own history, in
    # order), or for as long as the socket stays (a store written before its
    # publish, so its frames may come late and in any order).
    for_good: bool = False


class CatchUp:
    """Every socket catching up, by topic: checked once per envelope delivered."""

    def __init__(self, queue_size: int) -> None:
        self._queue_size = queue_size
        self._topics: dict[str, dict[Connection, _Catching]] = {}
        # The same, by socket (kept here: an empty set on every socket costs 200 bytes).
        self._sockets: dict[Connection, set[str]] = {}

    def start(self, connection: Connection, topic: str) -> None:
        """Hold the topic's live frames for this socket from now on."""
        self._topics.setdefault(topic, {})[connection] = _Catching()
        self._sockets.setdefault(connection, set()).add(topic)

    def read(
        self,
        connection: Connection,
        topic: str,
        missed: list[Envelope],
        read_at: Position | None,
        *,
        for_good: bool,
    ) -> None:
        """The backlog was read at `read_at`: `missed` goes out first."""
        state = self._topics[topic][connection]
        state.missed, state.read_at, state.for_good = missed, read_at, for_good

    def stop(self, connection: Connection, topic: str) -> None:
        topics = self._sockets.get(connection)
        if topics is not None:
            topics.discard(topic)
            if not topics:
                del self._sockets[connection]
        states = self._topics.get(topic)
        if states is not None:
            states.pop(connection, None)
            if not states:
                del self._topics[topic]

    def __contains__(self, connection: Connection) -> bool:
        """True while the socket catches up on any topic (or filters what it was sent)."""
        return connection in self._sockets

    def on(self, topic: str) -> dict[Connection, _Catching] | None:
        """The sockets catching up on `topic`, if any (the common case: None)."""
        return self._topics.get(topic)

    async def send_held(self, connection: Connection) -> None:
        """Send the missed frames, then the live ones held meanwhile, in order; then live."""
        for topic in list(self._sockets.get(connection, ())):
            state = self._topics.get(topic, {}).get(connection)
            if state is None or state.held is None:
                continue
            for missed in state.missed:
                if missed.exclude != connection.sender_id:  # `broadcast_from`'s sender
                    await connection.send_in_turn(missed.frame)
            state.missed = []
            # Frames that arrive meanwhile are held too, until none is left.
            while state.held and not connection.closing:
                envelope = state.held.pop(0)
                if state.read_at is None or not state.read_at.covers(envelope.position):
                    await connection.send_in_turn(envelope.frame)
            state.held = None
            if state.read_at is None:  # nothing to tell apart
                self.stop(connection, topic)

    def deliver(self, connection: Connection, envelope: Envelope) -> None:
        """A live frame for a socket catching up on its topic: held, dropped, or sent."""
        state = self._topics[envelope.topic][connection]
        if connection.closing:
            return
        if state.held is not None:  # the missed frames are not all out: wait
            state.held.append(envelope)
            if len(state.held) > self._queue_size:
                connection.close(WS_4008_SLOW_CONSUMER, SLOW_CONSUMER_REASON, abandon_queue=True)
            return
        if state.read_at is not None and state.read_at.covers(envelope.position):
            return
        if envelope.position is not None and not state.for_good:
            self.stop(connection, envelope.topic)  # past the read: the rest follow it
        connection.send_frame(envelope.frame)
