"""What travels to sockets: a `Frame`, and the `Envelope` a broker hands the hub for each."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

# What a socket is sent: a text frame or a binary one.
Frame = str | bytes

SINCE_PATTERN = r"^[A-Za-z0-9_-]{1,64}:[0-9]{1,18}$"
_SINCE = re.compile(SINCE_PATTERN)


class Position(NamedTuple):
    """A place in a topic: after the message `offset` of `epoch` (0: before the first)."""

    epoch: str
    offset: int

    @classmethod
    def parse(cls, text: str) -> "Position":
        """`epoch:offset`, as clients send it in `since`; ValueError if it is not that."""
        if not _SINCE.fullmatch(text):
            raise ValueError("since must be epoch:offset, as in the last message received")
        epoch, _, offset = text.partition(":")
        return cls(epoch, int(offset))

    def covers(self, other: "Position | None") -> bool:
        """True if `other` is at or before this place (same epoch, offset not past it)."""
        return other is not None and other.epoch == self.epoch and other.offset <= self.offset


@dataclass(frozen=True, slots=True)
class Envelope:
    """One published frame on its way to a topic's sockets."""

    topic: str
    frame: Frame
    # The id of the one connection that must not get it (`broadcast_from`'s sender).
    exclude: str | None = None
    # Its place in the topic's history; None if the topic keeps none.
    position: Position | None = None


# What a broker calls with every envelope of a topic this process subscribed to.
Deliver = Callable[[Envelope], None]
