"""Rolling deploys: processes that write adjacent formats share one Redis and lose nothing."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from azu_ws.formats import CURRENT, PREVIOUS
from azu_ws.frames import Envelope, Position
from azu_ws.redis.codec import decode, encode
from azu_ws.testing import WAIT, RedisServer, Server, receive, uvicorn
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from .bench import SERVE
from .testapp.channels import PROBE, PROBE_OTHERS

SECRET = "a-secret-only-for-the-rolling-deploy-tests-01"


def test_the_previous_format_is_byte_for_byte_what_azu_ws_0_2_0_writes() -> None:
    stamped = Envelope("room", '{"type":"message"}', "1a2b3c4d-7", Position("e1", 5))
    assert encode(stamped, skip="", version=PREVIOUS) == b't 1a2b3c4d-7 e1:5\n{"type":"message"}'
    live = Envelope("room", b"\x00\x01", None, None)
    assert encode(live, skip="node", version=PREVIOUS) == b"bnode \n\x00\x01"
    for envelope in (stamped, live):
        for version in (PREVIOUS, CURRENT):
            relayed = decode("room", encode(envelope, publish_id="n-1", version=version))
            assert relayed.envelope == envelope
            assert relayed.publish_id == ("n-1" if version == CURRENT else "")


@pytest.fixture
def mixed(tmp_path: Path, redis_server: RedisServer) -> Iterator[tuple[Server, Server]]:
    """Worker A writes the previous format, as a process of the previous runtime would;
    worker B the current one: the middle of a rolling deploy."""
    shared = {"BROKER_URL": redis_server.url, "DATABASE_URL": redis_server.url}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        uvicorn(tmp_path / "a", SECRET, command=SERVE, REDIS_FORMAT=str(PREVIOUS), **shared) as a,
        uvicorn(tmp_path / "b", SECRET, command=SERVE, REDIS_FORMAT=str(CURRENT), **shared) as b,
    ):
        yield a, b


def say(ws: ClientConnection, content: str) -> None:
    ws.send(json.dumps({"type": "message", "content": content}))


def messages(ws: ClientConnection, count: int) -> list[str]:
    """The contents of the next `count` frames, each of which must be a `message`."""
    return [receive(ws, "message")["content"] for _ in range(count)]


def nothing_more(ws: ClientConnection) -> None:
    """No other frame is on its way before the answer to a ping (no duplicate, no echo)."""
    ws.send(json.dumps({"type": "ping"}))
    receive(ws, "pong")


def test_chat_crosses_both_ways_once_each(mixed: tuple[Server, Server]) -> None:
    a, b = mixed
    with a.connect(PROBE, "alice") as alice, b.connect(PROBE, "bob") as bob:
        receive(alice, "connected")
        receive(bob, "connected")
        say(alice, "from a")
        say(bob, "from b")
        for ws in (alice, bob):
            assert sorted(messages(ws, 2)) == ["from a", "from b"]
            nothing_more(ws)


def test_broadcast_from_reaches_the_others_and_never_its_sender(
    mixed: tuple[Server, Server],
) -> None:
    a, b = mixed
    with (
        a.connect(PROBE_OTHERS, "alice") as alice,
        b.connect(PROBE_OTHERS, "bob") as bob,
        a.connect(PROBE_OTHERS, "carol") as carol,
    ):
        for ws in (alice, bob, carol):
            receive(ws, "connected")
        say(alice, "from a")
        say(bob, "from b")
        assert sorted(messages(carol, 2)) == ["from a", "from b"]
        assert messages(bob, 1) == ["from a"]
        assert messages(alice, 1) == ["from b"]
        for ws in (alice, bob, carol):
            nothing_more(ws)


def test_presence_and_farewells_cross_both_ways(mixed: tuple[Server, Server]) -> None:
    a, b = mixed
    with a.connect("/ws/rooms/lobby", "alice") as alice:
        assert receive(alice, "joined")["members"] == ["alice"]
        with b.connect("/ws/rooms/lobby", "bob") as bob:
            assert receive(bob, "joined")["members"] == ["alice", "bob"]
            assert receive(alice, "user_joined")["user"] == "bob"
            with a.connect("/ws/rooms/lobby", "carol") as carol:
                assert receive(carol, "joined")["members"] == ["alice", "bob", "carol"]
                for ws in (alice, bob):
                    assert receive(ws, "user_joined")["user"] == "carol"
            for ws in (alice, bob):
                assert receive(ws, "user_left")["user"] == "carol"
        assert receive(alice, "user_left")["user"] == "bob"
        nothing_more(alice)


def test_notifications_stored_by_either_are_delivered_once_by_the_other(
    mixed: tuple[Server, Server],
) -> None:
    a, b = mixed
    scope = "notifications:send"
    stored = [
        server.post("/api/notifications/dave", {"payload": {"n": n}}, scope=scope)["id"]
        for n, server in enumerate((a, b))
    ]
    for server, other in ((b, a), (a, b)):
        with server.connect("/ws/notifications", "dave") as dave:
            assert [receive(dave, "notification")["id"] for _ in stored] == stored
            live = other.post("/api/notifications/dave", {"payload": {"n": 3}}, scope=scope)
            assert receive(dave, "notification")["id"] == live["id"]
            dave.send(json.dumps({"type": "ack", "id": live["id"]}))
            assert receive(dave, "acked")["id"] == live["id"]
            nothing_more(dave)


def test_a_client_resumes_on_either_worker_with_what_both_published(
    mixed: tuple[Server, Server],
) -> None:
    a, b = mixed
    with a.connect(PROBE, "alice") as alice, b.connect(PROBE, "zed") as zed:
        receive(alice, "connected")
        receive(zed, "connected")
        for left in (a, b):
            with left.connect(PROBE, "bob") as bob:
                receive(bob, "connected")
                say(alice, "seen")
                frame = receive(bob, "message")
            since = f"{frame['epoch']}:{frame['offset']}"
            missed = [f"missed {n}" for n in range(4)]
            for n, content in enumerate(missed):
                say((alice, zed)[n % 2], content)
            # Once both have heard them all, the history holds them all.
            for ws in (alice, zed):
                assert sorted(messages(ws, 5)) == sorted(["seen", *missed])
            for resumed_on in (a, b):
                with resumed_on.connect(f"{PROBE}?since={since}", "bob") as bob:
                    assert receive(bob, "connected")["recovered"] is True
                    assert sorted(messages(bob, 4)) == missed
                    nothing_more(bob)


def test_disconnect_orders_cross_both_ways(mixed: tuple[Server, Server]) -> None:
    a, b = mixed
    for issuer, holder in ((a, b), (b, a)):
        user = f"mallory-{issuer.url.rsplit(':', 1)[1]}"  # a ban lasts for that user's tokens
        with holder.connect(PROBE, user) as mallory:
            receive(mallory, "connected")
            issuer.post(f"/api/users/{user}/disconnect", {"reason": "banned"}, scope="users:revoke")
            with pytest.raises(ConnectionClosed) as closed:
                mallory.recv(timeout=WAIT)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 4403
