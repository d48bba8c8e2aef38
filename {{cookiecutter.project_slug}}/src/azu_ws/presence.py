"""Presence: which users are on a topic, counted by socket so that it is exact.

A user with two sockets in a room is one member until both have left: `track`
says True only for a user's first socket on a topic, `untrack` only for the
last, which is when the others should hear `user_joined` and `user_left`.

A socket is tracked with its *farewell*: the frame the others hear when its
user's last socket leaves. The hub publishes it on `untrack`; a cluster-wide
presence (Redis) also publishes it, through `announce`, for the members of a
process that died without untracking anyone.
"""

from collections.abc import Awaitable, Callable
from typing import Protocol

# Publishes (topic, frame) to every subscriber of topic, in every process.
Announce = Callable[[str, str], Awaitable[None]]


class Presence(Protocol):
    """Who is on which topic, across every process that shares it."""

    async def start(self, announce: Announce) -> None:
        """Begin keeping this process's entries alive; `announce` publishes farewells."""

    async def track(
        self, topic: str, user_id: str, connection_id: str, farewell: str | None
    ) -> bool:
        """Record a socket on `topic`; True when its user was not present before."""

    async def untrack(self, topic: str, user_id: str, connection_id: str) -> bool:
        """Forget a socket on `topic`; True when its user has no socket left there."""

    async def members(self, topic: str) -> list[str]:
        """The users present on `topic`, sorted."""

    async def close(self) -> None:
        """Stop; the entries of sockets still tracked are withdrawn where that is possible."""


class MemoryPresence:
    """Presence for one process: topic -> user -> that user's socket ids.

    Farewells need no keeping: when this process dies, so does everyone it
    could tell.
    """

    def __init__(self) -> None:
        self._topics: dict[str, dict[str, set[str]]] = {}

    async def start(self, announce: Announce) -> None:
        pass

    async def track(
        self, topic: str, user_id: str, connection_id: str, farewell: str | None
    ) -> bool:
        users = self._topics.setdefault(topic, {})
        sockets = users.setdefault(user_id, set())
        sockets.add(connection_id)
        return len(sockets) == 1

    async def untrack(self, topic: str, user_id: str, connection_id: str) -> bool:
        users = self._topics.get(topic, {})
        sockets = users.get(user_id)
        if not sockets or connection_id not in sockets:
            return False
        sockets.discard(connection_id)
        if sockets:
            return False
        del users[user_id]
        if not users:
            del self._topics[topic]
        return True

    async def members(self, topic: str) -> list[str]:
        return sorted(self._topics.get(topic, {}))

    async def close(self) -> None:
        self._topics.clear()


def presence_from_url(url: str, *, ttl_seconds: float) -> Presence:
    """Presence where the broker is: in memory, or in Redis for a cluster-wide view."""
    if url.startswith(("redis://", "rediss://")):
        from .redis_presence import RedisPresence  # imported only when used

        return RedisPresence(url, ttl_seconds=ttl_seconds)
    return MemoryPresence()
