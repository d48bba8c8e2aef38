"""Presence: which users are on a topic, counted by socket so that it is exact, with the
farewell the others hear when a user's last socket leaves."""

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
