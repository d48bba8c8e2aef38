"""Presence keeps one contract in memory and in Redis: counted by socket, withdrawn on close."""

import asyncio

from azu_ws.presence import MemoryPresence, Presence
from azu_ws.testing import RedisServer

EXPECTED = [
    True,  # alice's first socket: she arrived
    False,  # her second: no news
    True,  # bob arrived
    ["alice", "bob"],
    False,  # one of alice's sockets left: she is still there
    False,  # the same socket again: nothing changes
    True,  # her last socket: she left
    ["bob"],
    [],  # a topic no one is on
]


async def contract(presence: Presence) -> list[object]:
    await presence.start(announce=_never)
    try:
        return [
            await presence.track("room:a", "alice", "s1", "alice left"),
            await presence.track("room:a", "alice", "s2", "alice left"),
            await presence.track("room:a", "bob", "s3", None),
            await presence.members("room:a"),
            await presence.untrack("room:a", "alice", "s1"),
            await presence.untrack("room:a", "alice", "s1"),
            await presence.untrack("room:a", "alice", "s2"),
            await presence.members("room:a"),
            await presence.members("room:b"),
        ]
    finally:
        await presence.close()


async def _never(topic: str, frame: str) -> None:
    raise AssertionError(f"no process died, yet {frame!r} was announced on {topic!r}")


def test_in_memory() -> None:
    assert asyncio.run(contract(MemoryPresence())) == EXPECTED


def test_in_redis_the_same_and_a_closed_process_leaves_nothing_behind(
    redis_server: RedisServer,
) -> None:
    from azu_ws.redis.presence import RedisPresence

    assert asyncio.run(contract(RedisPresence(redis_server.url, ttl_seconds=5))) == EXPECTED

    async def seen_by_another_process() -> list[str]:
        other = RedisPresence(redis_server.url, ttl_seconds=5)
        await other.start(announce=_never)
        try:
            return await other.members("room:a")
        finally:
            await other.close()

    # bob was still tracked when the first one closed: it withdrew him.
    assert asyncio.run(seen_by_another_process()) == []


def test_in_redis_two_processes_share_one_list(redis_server: RedisServer) -> None:
    from azu_ws.redis.presence import RedisPresence

    async def scenario() -> tuple[list[str], list[str], bool, bool]:
        one = RedisPresence(redis_server.url, ttl_seconds=5)
        two = RedisPresence(redis_server.url, ttl_seconds=5)
        for presence in (one, two):
            await presence.start(announce=_never)
        try:
            await one.track("room:a", "alice", "a1", None)
            second_socket_news = await two.track("room:a", "alice", "a2", None)
            await two.track("room:a", "bob", "b1", None)
            lists = await one.members("room:a"), await two.members("room:a")
            first_leaves = await one.untrack("room:a", "alice", "a1")
            return *lists, second_socket_news, first_leaves
        finally:
            await one.close()
            await two.close()

    assert asyncio.run(scenario()) == (["alice", "bob"], ["alice", "bob"], False, False)
