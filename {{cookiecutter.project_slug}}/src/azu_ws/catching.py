"""Sockets catching up on a topic: the missed frames first, then live, none twice.

`Hub.follow` joins a topic and reads its history; until the hook that joined
returns, the topic's live frames wait here (so that the greeting it pushes
comes first); then `catch_up` sends the missed ones and the waiting ones in
order. Through Redis, a frame published before the history was read can be
relayed after it: anything at or below the position read is dropped, until
the first frame past it shows the relay has caught up.
"""

from dataclasses import dataclass, field
from typing import TypedDict

from .connection import Connection, Frame
from .history import Position


class GreetingFields(TypedDict):
    """What a greeting says of a topic it joined: `Joined(..., **followed.greeting)`."""

    epoch: str | None
    offset: int | None
    recovered: bool | None


@dataclass(frozen=True, slots=True)
class Followed:
    """Where a topic stood when a socket joined it (`Hub.follow`)."""

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
    missed: list[Frame] = field(default_factory=list)
    # Live frames waiting for the replay; None once it is out.
    held: list[tuple[Frame, Position | None]] | None = field(default_factory=list)
    # Where the history was read: a live frame at or below it is not sent.
    read_at: Position | None = None


class CatchingUp:
    """Every socket catching up, by topic: checked once per frame delivered."""

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
        self, connection: Connection, topic: str, missed: list[Frame], at: Position | None
    ) -> None:
        """The history was read at `at`: `missed` goes out first."""
        state = self._topics[topic][connection]
        state.missed, state.read_at = missed, at

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

    def on(self, topic: str) -> dict[Connection, "_Catching"] | None:
        """The sockets catching up on `topic`, if any (the common case: None)."""
        return self._topics.get(topic)

    def __contains__(self, connection: Connection) -> bool:
        """True while the socket catches up on any topic (or filters its late relays)."""
        return connection in self._sockets

    async def catch_up(self, connection: Connection) -> None:
        """Send what was held back, in order, waiting for room; then the socket is live."""
        for topic in list(self._sockets.get(connection, ())):
            state = self._topics.get(topic, {}).get(connection)
            if state is None or state.held is None:
                continue
            for frame in state.missed:
                await connection.send_in_turn(frame)
            state.missed = []
            # Frames that arrive meanwhile are held too, until none is left.
            while state.held and not connection.closing:
                frame, position = state.held.pop(0)
                if not _at_or_before(position, state.read_at):
                    await connection.send_in_turn(frame)
            state.held = None
            if state.read_at is None:  # nothing to tell apart
                self.stop(connection, topic)

    def deliver(
        self, connection: Connection, topic: str, frame: Frame, position: Position | None
    ) -> None:
        """A live frame for a socket catching up on `topic`: held, dropped, or sent."""
        state = self._topics[topic][connection]
        if connection.closing:
            return
        if state.held is not None:  # still replaying: wait
            state.held.append((frame, position))
            if len(state.held) > self._queue_size:
                connection.drop_slow()
            return
        if _at_or_before(position, state.read_at):
            return
        if position is not None:  # the first frame past the read: the rest follow it
            self.stop(connection, topic)
        connection.send_frame(frame)


def _at_or_before(position: Position | None, read_at: Position | None) -> bool:
    """True for a frame the history read already covered: same epoch, at or below it."""
    return (
        position is not None
        and read_at is not None
        and position.epoch == read_at.epoch
        and position.offset <= read_at.offset
    )
