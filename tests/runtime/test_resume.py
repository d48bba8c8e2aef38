"""Nothing lost on reconnect: a client that says where it left off gets what it missed.

On the probe channel, so that these hold whichever channels a project
keeps: in one process with the memory broker, then across two processes
sharing a real Redis.
"""

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from azu_ws.auth import User
from azu_ws.broker import MemoryBroker
from azu_ws.close_codes import WS_1012_SERVICE_RESTART, WS_4008_SLOW_CONSUMER, WS_4400_BAD_REQUEST
from azu_ws.frames import Envelope, Position
from azu_ws.history import HistoryLimits, MemoryHistory
from azu_ws.hub import Hub
from azu_ws.messages import Connected
from azu_ws.notifications import Notifier, SqliteNotificationStore
from azu_ws.presence import MemoryPresence
from azu_ws.redis.broker import RedisBroker
from azu_ws.testing import (
    WAIT,
    Connect,
    RedisServer,
    Server,
    receive,
    receive_type,
    two_uvicorns,
    wait_for_log,
)
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.sync.client import ClientConnection

from .bench import SERVE
from .test_fanout import FakeSocket
from .testapp.channels import PROBE
from .testapp.messages import NewMessage

SECRET = "a-secret-only-for-the-resume-tests-0123456789"


def say(ws: WebSocketTestSession, content: str) -> None:
    ws.send_json({"type": "message", "content": content})


def since(frame: dict[str, Any]) -> str:
    """What a client sends back: the place of the last frame it got."""
    return f"{frame['epoch']}:{frame['offset']}"


def until_pong(ws: WebSocketTestSession) -> list[dict[str, Any]]:
    """Every frame up to the answer to a ping: all that was queued before it."""
    ws.send_json({"type": "ping"})
    frames = []
    while (frame := ws.receive_json())["type"] != "pong":
        frames.append(frame)
    return frames


def contents(frames: list[dict[str, Any]]) -> list[str]:
    return [frame["content"] for frame in frames if frame["type"] == "message"]


# --- one process, the memory broker ------------------------------------------


def test_a_client_back_from_a_drop_gets_exactly_what_it_missed_then_live(connect: Connect) -> None:
    with connect(PROBE, "bob") as bob:
        receive_type(bob, "connected")
        with connect(PROBE, "alice") as alice:
            greeting = receive_type(alice, "connected")
            assert greeting["offset"] == 0
            assert "recovered" not in greeting  # only for a client that asked to resume
            say(bob, "one")
            first = receive_type(alice, "message")
            assert (first["content"], first["offset"], first["epoch"]) == (
                "one",
                1,
                greeting["epoch"],
            )
        for content in ("two", "three"):  # alice is away
            say(bob, content)
        with connect(f"{PROBE}?since={since(first)}", "alice") as alice:
            back = receive_type(alice, "connected")
            assert (back["recovered"], back["epoch"], back["offset"]) == (True, first["epoch"], 3)
            missed = [receive_type(alice, "message") for _ in range(2)]
            assert [(m["content"], m["offset"]) for m in missed] == [("two", 2), ("three", 3)]
            say(bob, "four")
            live = until_pong(alice)
            assert [(m["content"], m["offset"]) for m in live] == [("four", 4)]  # no duplicate


def test_a_client_that_missed_nothing_is_recovered_with_nothing_replayed(connect: Connect) -> None:
    with connect(PROBE, "alice") as alice:
        greeting = receive_type(alice, "connected")
    with connect(f"{PROBE}?since={since(greeting)}", "alice") as alice:
        assert receive_type(alice, "connected")["recovered"] is True
        assert until_pong(alice) == []


@pytest.mark.settings(history_size=2)
def test_a_gap_longer_than_the_history_is_not_recovered(connect: Connect) -> None:
    with connect(PROBE, "bob") as bob:
        receive_type(bob, "connected")
        with connect(PROBE, "alice") as alice:
            greeting = receive_type(alice, "connected")
        for content in ("one", "two", "three"):  # one more than the history keeps
            say(bob, content)
        with connect(f"{PROBE}?since={since(greeting)}", "alice") as alice:
            back = receive_type(alice, "connected")
            assert (back["recovered"], back["offset"]) == (False, 3)
            assert until_pong(alice) == []  # nothing replayed: the client reloads instead
            say(bob, "four")
            assert contents(until_pong(alice)) == ["four"]


def test_a_position_of_another_epoch_is_not_recovered(connect: Connect) -> None:
    with connect(PROBE, "bob") as bob:
        receive_type(bob, "connected")
        say(bob, "one")
        receive_type(bob, "message")
        with connect(f"{PROBE}?since=0123456789ab:1", "alice") as alice:
            back = receive_type(alice, "connected")
            assert back["recovered"] is False
            assert back["epoch"] != "0123456789ab"
            assert until_pong(alice) == []


def test_a_position_ahead_of_the_topic_is_not_recovered(connect: Connect) -> None:
    with connect(PROBE, "alice") as alice:
        greeting = receive_type(alice, "connected")
    ahead = f"{greeting['epoch']}:{greeting['offset'] + 5}"
    with connect(f"{PROBE}?since={ahead}", "alice") as alice:
        assert receive_type(alice, "connected")["recovered"] is False


@pytest.mark.settings(history_ttl=0.2)
def test_expired_messages_are_not_recovered_but_a_quiet_topic_still_is(connect: Connect) -> None:
    with connect(PROBE, "bob") as bob:
        receive_type(bob, "connected")
        with connect(PROBE, "alice") as alice:
            greeting = receive_type(alice, "connected")
        say(bob, "one")
        last = receive_type(bob, "message")
        time.sleep(0.3)  # the message is past HISTORY_TTL; where the topic stands is not
        with connect(f"{PROBE}?since={since(greeting)}", "alice") as alice:
            assert receive_type(alice, "connected")["recovered"] is False
        with connect(f"{PROBE}?since={since(last)}", "bob") as bob_again:
            assert receive_type(bob_again, "connected")["recovered"] is True


@pytest.mark.parametrize(
    "position",
    ["abc", "abc:", ":1", "abc:-1", "abc:x", "a b:1", "e" * 65 + ":1", "abc:1:2", "abc:1%0A"],
)
def test_an_invalid_since_is_refused_with_4400(connect: Connect, position: str) -> None:
    with (
        connect(f"{PROBE}?since={position}", "alice") as alice,
        pytest.raises(WebSocketDisconnect) as refused,
    ):
        alice.receive_json()
    assert (refused.value.code, refused.value.reason) == (WS_4400_BAD_REQUEST, "invalid since")


def test_binary_frames_carry_no_offset_and_are_not_replayed(connect: Connect) -> None:
    with connect(PROBE, "bob") as bob:
        receive_type(bob, "connected")
        with connect(PROBE, "alice") as alice:
            greeting = receive_type(alice, "connected")
        bob.send_bytes(b"\x01\x02")
        say(bob, "one")
        receive_type(bob, "message")
        with connect(f"{PROBE}?since={since(greeting)}", "alice") as alice:
            assert receive_type(alice, "connected")["recovered"] is True
            assert contents(until_pong(alice)) == ["one"]


# --- the hub's order while catching up ----------------------------------------


class LateRelayBroker(MemoryBroker):
    """Like Redis, may hand a frame to the hub after a history read that holds it."""

    relays_late = True


async def catch_up_while_messages_keep_coming() -> list[str]:
    hub = Hub(LateRelayBroker(HistoryLimits(size=10)), MemoryPresence(), send_queue_size=16)
    await hub.start()
    for number in (1, 2, 3):
        await hub.publish("room", NewMessage(content=f"m{number}", user="bob"))
    socket = FakeSocket()
    alice = await hub.connect(cast(WebSocket, socket), User(id="alice"), "/ws/test")
    now = (await hub.broker.history("room", None)).position
    assert now is not None
    joined_at = await hub.join(alice, "room", Position(now.epoch, 1))
    assert (joined_at.recovered, joined_at.offset) == (True, 3)
    # Through Redis, a frame the replay read can still be on its way, relayed
    # late, while the hook runs or after: either way, dropped.
    stale = NewMessage(content="m3", user="bob").model_dump_json()
    hub._deliver(Envelope("room", stale, None, Position(now.epoch, 3)))
    # Published while the hook is still running: held until the replay is out.
    await hub.publish("room", NewMessage(content="m4", user="bob"))
    alice.send_frame(Connected(message="hello", user="alice").model_dump_json())
    await hub.catch_up(alice)
    hub._deliver(Envelope("room", stale, None, Position(now.epoch, 3)))
    await hub.publish("room", NewMessage(content="m5", user="bob"))
    for _ in range(10):
        await asyncio.sleep(0)
    await hub.stop()
    return [json.loads(frame).get("content", "greeting") for frame in socket.frames]


def test_the_greeting_comes_first_then_the_missed_then_live_without_duplicates() -> None:
    frames = asyncio.run(catch_up_while_messages_keep_coming())
    assert frames == ["greeting", "m2", "m3", "m4", "m5"]


async def flood_while_catching_up(queue_size: int, published: int) -> int | None:
    hub = Hub(MemoryBroker(), MemoryPresence(), send_queue_size=queue_size)
    await hub.start()
    socket = FakeSocket()
    alice = await hub.connect(cast(WebSocket, socket), User(id="alice"), "/ws/test")
    now = (await hub.broker.history("room", None)).position
    assert now is not None
    await hub.join(alice, "room", now)
    for number in range(published):  # the hook is slow; the room is not
        await hub.publish("room", NewMessage(content=str(number), user="bob"))
    await hub.catch_up(alice)
    for _ in range(10):
        await asyncio.sleep(0)
    await hub.stop()
    return socket.closed_with


async def fresh_join_while_an_older_frame_is_relayed() -> list[str]:
    hub = Hub(LateRelayBroker(), MemoryPresence(), send_queue_size=16)
    await hub.start()
    for number in (1, 2, 3):
        await hub.publish("room", NewMessage(content=f"m{number}", user="bob"))
    socket = FakeSocket()
    alice = await hub.connect(cast(WebSocket, socket), User(id="alice"), "/ws/test")
    joined_at = await hub.join(alice, "room")  # a new client: no since
    alice.send_frame(Connected(message="hi", user="alice", **joined_at.greeting).model_dump_json())
    await hub.catch_up(alice)
    # Through Redis, m3 (published before the greeting's offset) can be relayed after it.
    assert joined_at.position is not None
    late = NewMessage(content="m3", user="bob").model_dump_json()
    hub._deliver(Envelope("room", late, None, joined_at.position))
    await hub.publish("room", NewMessage(content="m4", user="bob"))
    for _ in range(10):
        await asyncio.sleep(0)
    await hub.stop()
    return [json.loads(frame).get("content", "greeting") for frame in socket.frames]


async def caught_up_after(broker: MemoryBroker) -> list[bool]:
    """Whether a socket that followed a topic is still tracked: after catch_up, after a frame."""
    hub = Hub(broker, MemoryPresence(), send_queue_size=16)
    await hub.start()
    alice = await hub.connect(cast(WebSocket, FakeSocket()), User(id="alice"), "/ws/test")
    await hub.join(alice, "room")
    await hub.catch_up(alice)
    tracked = [hub.is_catching_up(alice)]
    await hub.publish("room", NewMessage(content="m1", user="bob"))
    tracked.append(hub.is_catching_up(alice))
    await hub.stop()
    return tracked


def test_an_idle_socket_keeps_no_catching_up_state_once_nothing_can_come_late() -> None:
    assert asyncio.run(caught_up_after(MemoryBroker())) == [False, False]
    # Through Redis, until the first frame past the read shows the relays caught up.
    assert asyncio.run(caught_up_after(LateRelayBroker())) == [True, False]


def test_a_new_client_gets_what_follows_its_greeting_and_nothing_before() -> None:
    assert asyncio.run(fresh_join_while_an_older_frame_is_relayed()) == ["greeting", "m4"]


async def a_gap_in_what_reaches_this_process(size: int) -> tuple[list[str], int | None]:
    """m2 and m3 are published elsewhere and never relayed here (a lost subscriber)."""
    hub = Hub(MemoryBroker(HistoryLimits(size=size)), MemoryPresence(), send_queue_size=16)
    await hub.start()
    socket = FakeSocket()
    alice = await hub.connect(cast(WebSocket, socket), User(id="alice"), "/ws/test")
    await hub.join(alice, "room")
    await hub.catch_up(alice)
    await hub.publish("room", NewMessage(content="m1", user="bob"))
    broker = cast(MemoryBroker, hub.broker)
    for number in (2, 3):  # kept in the history, as Redis keeps them, but not delivered
        broker.kept.append("room", NewMessage(content=f"m{number}", user="bob").model_dump_json())
    await hub.publish("room", NewMessage(content="m4", user="bob"))
    await hub.publish("room", NewMessage(content="m5", user="bob"))
    for _ in range(20):
        await asyncio.sleep(0)
    await hub.stop()
    return [json.loads(frame)["content"] for frame in socket.frames], socket.closed_with


def test_a_gap_in_what_reaches_the_process_is_filled_from_the_history_in_order() -> None:
    frames, closed_with = asyncio.run(a_gap_in_what_reaches_this_process(size=10))
    assert (frames, closed_with) == (["m1", "m2", "m3", "m4", "m5"], None)


def test_a_gap_the_history_cannot_fill_closes_the_sockets_to_resume() -> None:
    frames, closed_with = asyncio.run(a_gap_in_what_reaches_this_process(size=1))
    assert closed_with == WS_1012_SERVICE_RESTART  # the client resumes, and hears recovered false
    assert frames[0] == "m1"


def test_expired_messages_are_freed_and_unpublished_topics_forgotten() -> None:
    history = MemoryHistory(HistoryLimits(size=100, ttl=0.05, meta_ttl=3600))
    for number in range(100):
        history.append("room", '{"type":"message","content":"' + "x" * 1000 + str(number) + '"}')
    epoch = history.since("room", None).position
    history.since("updates:comment:never-published", None)
    assert (len(history), history.frames_kept()) == (2, 100)
    time.sleep(0.1)
    history.sweep(time.monotonic())
    assert (len(history), history.frames_kept()) == (1, 0)  # the position of "room" stays
    assert history.since("room", epoch).recovered is True  # so a quiet client missed nothing


def test_the_topics_a_socket_has_of_its_own_keep_no_history() -> None:
    hub = Hub(MemoryBroker(), MemoryPresence(), send_queue_size=4)
    assert not any(map(hub.keeps_history, ["all", "hub:control", "user:alice"]))
    assert all(map(hub.keeps_history, ["alliance", "chat", "room:all", "updates:user:alice"]))


def test_the_owner_of_topics_declares_that_they_keep_no_history(tmp_path: Path) -> None:
    hub = Hub(MemoryBroker(), MemoryPresence(), send_queue_size=4)
    assert hub.keeps_history("notifications:user:alice")
    Notifier(SqliteNotificationStore(tmp_path / "n.db", max_pending=8, ttl_seconds=60), hub)
    assert not hub.keeps_history("notifications:user:alice")  # a store of its own
    hub.keep_no_history("cursor:")  # an app's own: only whoever is here now needs them
    assert not hub.keeps_history("cursor:doc-1")
    assert hub.keeps_history("notifications-archive")


def test_more_held_back_than_the_queue_holds_is_a_slow_consumer() -> None:
    assert asyncio.run(flood_while_catching_up(queue_size=4, published=4)) is None
    assert asyncio.run(flood_while_catching_up(queue_size=4, published=5)) == WS_4008_SLOW_CONSUMER


# --- two processes, one Redis --------------------------------------------------


@pytest.fixture
def two_workers(tmp_path: Path, redis_server: RedisServer) -> Iterator[tuple[Server, Server]]:
    with two_uvicorns(
        tmp_path,
        SECRET,
        BROKER_URL=redis_server.url,
        DATABASE_URL=f"sqlite:///{tmp_path}/shared.db",
        HISTORY_SIZE="1000",
        WS_RATE_LIMIT="100000",
        WS_RATE_BURST="1000",
        command=SERVE,
    ) as servers:
        yield servers


class Sender(threading.Thread):
    """Sends `count` numbered messages at a steady pace, whatever the receivers do."""

    def __init__(self, ws: ClientConnection, count: int) -> None:
        super().__init__(daemon=True)
        self.ws, self.count = ws, count

    def run(self) -> None:
        for number in range(self.count):
            self.ws.send(json.dumps({"type": "message", "content": str(number)}))
            time.sleep(0.005)


def read_messages(ws: ClientConnection, until: str) -> list[dict[str, Any]]:
    """Messages received up to and including the one whose content is `until`."""
    received = []
    while True:
        frame = json.loads(ws.recv(timeout=WAIT))
        if frame["type"] == "message":
            received.append(frame)
            if frame["content"] == until:
                return received


def test_a_client_that_drops_mid_stream_resumes_on_the_other_worker_missing_nothing(
    two_workers: tuple[Server, Server],
) -> None:
    a, b = two_workers
    count = 300
    with b.connect(PROBE, "bob") as bob:
        receive(bob, "connected")
        with a.connect(PROBE, "alice") as alice:
            receive(alice, "connected")
            sender = Sender(bob, count)
            sender.start()
            before = read_messages(alice, until="50")
        # Alice's network drops mid-stream; the messages keep flowing meanwhile.
        time.sleep(0.1)
        with b.connect(f"{PROBE}?since={since(before[-1])}", "alice") as alice:
            back = receive(alice, "connected")
            assert back["recovered"] is True
            after = read_messages(alice, until=str(count - 1))
            sender.join(timeout=WAIT)
    got = [int(frame["content"]) for frame in before + after]
    assert got == list(range(count))  # every one, once, in order
    offsets = [frame["offset"] for frame in before + after]
    assert offsets == list(range(offsets[0], offsets[0] + count))
    assert back["offset"] > before[-1]["offset"]  # some were missed while away: replayed


def test_across_workers_a_gap_longer_than_the_history_is_not_recovered(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    with (
        two_uvicorns(
            tmp_path, SECRET, BROKER_URL=redis_server.url, HISTORY_SIZE="3", command=SERVE
        ) as (a, b),
        b.connect(PROBE, "bob") as bob,
    ):
        receive(bob, "connected")
        with a.connect(PROBE, "alice") as alice:
            greeting = receive(alice, "connected")
        for number in range(5):
            bob.send(json.dumps({"type": "message", "content": str(number)}))
            receive(bob, "message")
        with a.connect(f"{PROBE}?since={since(greeting)}", "alice") as alice:
            back = receive(alice, "connected")
            assert (back["recovered"], back["offset"]) == (False, greeting["offset"] + 5)


def test_a_flushed_redis_starts_a_new_epoch_and_old_positions_are_not_recovered(
    two_workers: tuple[Server, Server], redis_server: RedisServer
) -> None:
    a, b = two_workers
    with b.connect(PROBE, "bob") as bob:
        receive(bob, "connected")
        bob.send(json.dumps({"type": "message", "content": "before"}))
        before = receive(bob, "message")
        redis.Redis.from_url(redis_server.url).flushall()
        bob.send(json.dumps({"type": "message", "content": "after"}))
        after = receive(bob, "message")
        assert after["epoch"] != before["epoch"]
        assert after["offset"] == 1
        with a.connect(f"{PROBE}?since={since(before)}", "alice") as alice:
            back = receive(alice, "connected")
            assert (back["recovered"], back["epoch"]) == (False, after["epoch"])


async def two_joiners_while_the_subscription_is_on_its_way(url: str) -> list[int]:
    """Two clients of one process resume on a topic it had no member of, at the same moment."""
    broker, elsewhere = RedisBroker(url), RedisBroker(url)
    hub = Hub(broker, MemoryPresence(), send_queue_size=64)
    await hub.start()
    await elsewhere.start(lambda *_: None)

    async def publish(content: str) -> None:
        frame = NewMessage(content=content, user="bob").model_dump_json()
        await elsewhere.publish(Envelope("room", frame), record=True)

    for content in ("m1", "m2"):
        await publish(content)
    first, second = FakeSocket(), FakeSocket()
    x = await hub.connect(cast(WebSocket, first), User(id="x"), "/ws/test")
    y = await hub.connect(cast(WebSocket, second), User(id="y"), "/ws/test")
    subscribe, answered = broker._pubsub.subscribe, asyncio.Event()

    async def slow_subscribe(*channels: bytes) -> Any:  # a SUBSCRIBE round trip that takes a while
        await answered.wait()
        return await subscribe(*channels)

    broker._pubsub.subscribe = slow_subscribe  # type: ignore[method-assign,assignment]
    now = (await broker.history("room", None)).position
    assert now is not None
    x_follows = asyncio.create_task(hub.join(x, "room", now))
    await asyncio.sleep(0.05)  # x's subscription is on its way
    y_follows = asyncio.create_task(hub.join(y, "room", now))
    await asyncio.sleep(0.05)
    await publish("m3")  # before the subscription is in force
    answered.set()
    for follows, connection in ((x_follows, x), (y_follows, y)):
        assert (await follows).recovered is True
        await hub.catch_up(connection)
    await publish("m4")
    for _ in range(50):
        await asyncio.sleep(0.01)
    await elsewhere.close()
    await hub.stop()
    return [json.loads(frame)["offset"] for frame in second.frames]


def test_a_second_joiner_waits_for_the_subscription_and_misses_nothing(
    redis_server: RedisServer,
) -> None:
    offsets = asyncio.run(two_joiners_while_the_subscription_is_on_its_way(redis_server.url))
    assert offsets == [3, 4]


async def read_topics(url: str) -> tuple[int, int]:
    broker = RedisBroker(url, HistoryLimits(ttl=300, meta_ttl=86400))
    await broker.history("updates:comment:1", None)
    await broker.publish(Envelope("updates:comment:2", '{"type":"update"}'), record=True)
    await broker.history("updates:comment:2", None)
    await broker.close()
    client = redis.Redis.from_url(url)
    ttls = [client.pttl(f"azu:history-meta:updates:comment:{n}") for n in (1, 2)]
    return int(ttls[0]), int(ttls[1])


def test_with_redis_reading_a_topic_never_published_to_keeps_its_position_briefly(
    redis_server: RedisServer,
) -> None:
    unpublished, published = asyncio.run(read_topics(redis_server.url))
    assert 0 < unpublished <= 300_000
    assert published > 3600_000


def test_messages_a_worker_missed_while_resubscribing_reach_its_clients_in_order(
    two_workers: tuple[Server, Server], redis_server: RedisServer
) -> None:
    a, b = two_workers
    count = 300
    with b.connect(PROBE, "bob") as bob, a.connect(PROBE, "alice") as alice:
        receive(bob, "connected")
        receive(alice, "connected")
        sender = Sender(bob, count)
        sender.start()
        before = read_messages(alice, until="50")
        # Every subscriber connection is cut (a proxy reset): each worker reconnects,
        # and what the other published meanwhile never reaches it through pub/sub.
        redis.Redis.from_url(redis_server.url).client_kill_filter(_type="pubsub")
        after = read_messages(alice, until=str(count - 1))
        sender.join(timeout=WAIT)
    assert [int(frame["content"]) for frame in before + after] == list(range(count))
    assert "from the history" in wait_for_log(a, "from the history")  # there was a gap
