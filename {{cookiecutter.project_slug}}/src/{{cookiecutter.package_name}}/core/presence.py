"""Presence: which users are on a topic, counted by socket so that it is exact.

A user with two sockets in a room is one member until both have left: `track`
says True only for a user's first socket on a topic, `untrack` only for the
last, which is when the others should hear `user_joined` and `user_left`.
"""

from typing import Protocol


class Presence(Protocol):
    """Who is on which topic, across every process that shares it."""

    async def track(self, topic: str, user_id: str, connection_id: str) -> bool:
        """Record a socket on `topic`; True when its user was not present before."""

    async def untrack(self, topic: str, user_id: str, connection_id: str) -> bool:
        """Forget a socket on `topic`; True when its user has no socket left there."""

    async def members(self, topic: str) -> list[str]:
        """The users present on `topic`, sorted."""


class MemoryPresence:
    """Presence for one process: topic -> user -> that user's socket ids."""

    def __init__(self) -> None:
        self._topics: dict[str, dict[str, set[str]]] = {}

    async def track(self, topic: str, user_id: str, connection_id: str) -> bool:
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
