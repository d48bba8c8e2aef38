"""Rooms: presence that is exact, talk that stays in the room, and binary relay."""

import json
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from azu_ws import close_codes
from azu_ws.testing import (
    WAIT,
    ChannelClient,
    Connect,
    Join,
    RedisServer,
    Server,
    call,
    closed_with,
    open_channel,
    receive,
    receive_type,
    services_of,
    two_uvicorns,
)
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from websockets.sync.client import ClientConnection

from {{ cookiecutter.package_name }}.channels import rooms
from {{ cookiecutter.package_name }}.messages import PostMessage, SetTyping

from .conftest import SERVE, TokenFor

ROOM = "/ws/rooms/lobby"
CLUSTER_SECRET = "a-secret-only-for-the-cluster-presence-tests"
# Too long, or outside letters, digits, `-`, `_` and `.` once decoded.
BAD_ROOM_IDS = ["x" * 65, "x" * 10_000, "has%20space", "caf%C3%A9", "semi;colon", "a%E2%80%8Bb"]

Room = ChannelClient[rooms.RoomInbound, rooms.RoomOutbound]


def lobby(join: Join, user: str) -> AbstractContextManager[Room]:
    return join(rooms.RoomChannel, user, room_id="lobby")


@contextmanager
def alice_then_bob(join: Join) -> Iterator[tuple[Room, Room]]:
    """alice in the lobby, then bob, whom she hears arrive."""
    with lobby(join, "alice") as alice:
        alice.expect(rooms.Joined)
        with lobby(join, "bob") as bob:
            bob.expect(rooms.Joined)
            alice.expect(rooms.UserJoined)
            yield alice, bob


def post(content: str) -> PostMessage:
    return PostMessage(type="message", content=content)


def test_joining_lists_who_is_present_and_tells_the_others(join: Join) -> None:
    with lobby(join, "alice") as alice:
        joined = alice.expect(rooms.Joined)
        assert (joined.room, joined.members, joined.offset) == ("lobby", ["alice"], 0)
        assert joined.epoch
        with lobby(join, "bob") as bob:
            assert bob.expect(rooms.Joined).members == ["alice", "bob"]
            arrived = alice.expect(rooms.UserJoined)
            assert (arrived.room, arrived.user) == ("lobby", "bob")


@pytest.mark.parametrize("code", [1000, 1001, 1006, 4000])
def test_leaving_or_a_dropped_connection_tells_the_others(join: Join, code: int) -> None:
    with alice_then_bob(join) as (alice, bob):
        bob.close(code)
        left = alice.expect(rooms.UserLeft)
        assert (left.room, left.user) == ("lobby", "bob")


def test_a_user_with_two_sockets_is_one_member_until_both_leave(join: Join) -> None:
    with alice_then_bob(join) as (alice, phone):
        with lobby(join, "bob") as laptop:
            assert laptop.expect(rooms.Joined).members == ["alice", "bob"]
        # The laptop left, the phone is still here: no user_left yet. The
        # next thing alice hears is the phone's message.
        phone.send(post("still here"))
        assert alice.expect(rooms.RoomMessage).content == "still here"
        phone.close()
        assert alice.expect(rooms.UserLeft).user == "bob"


def test_messages_and_typing_stay_in_their_room(join: Join) -> None:
    with (
        lobby(join, "alice") as alice,
        join(rooms.RoomChannel, "carol", room_id="elsewhere") as carol,
    ):
        alice.expect(rooms.Joined)
        carol.expect(rooms.Joined)
        alice.send(SetTyping(type="typing", is_typing=True))
        typing = alice.expect(rooms.RoomTyping)
        assert (typing.room, typing.user, typing.is_typing) == ("lobby", "alice", True)
        alice.send(post("lobby only"))
        said = alice.expect(rooms.RoomMessage)
        assert (said.room, said.content, said.user) == ("lobby", "lobby only", "alice")
        carol.send(post("elsewhere"))
        assert carol.expect(rooms.RoomMessage).room == "elsewhere"  # carol heard nothing else


def test_binary_frames_are_relayed_to_the_other_members_only(join: Join) -> None:
    with alice_then_bob(join) as (alice, bob):
        alice.send_bytes(b"\x01move e2e4")
        assert bob.expect_bytes() == b"\x01move e2e4"
        alice.expect_quiet()  # alice did not get her own frame back


def test_a_binary_frame_over_the_room_cap_is_an_error(join: Join) -> None:
    with lobby(join, "alice") as alice:
        alice.expect(rooms.Joined)
        alice.send_bytes(b"\x00" * (64 * 1024 + 1))
        alice.expect_error("frame_too_large")


@pytest.mark.parametrize("room", BAD_ROOM_IDS)
def test_a_bad_room_id_is_refused_with_4400(connect: Connect, room: str) -> None:
    with connect(f"/ws/rooms/{room}") as ws:
        assert closed_with(ws) == (close_codes.WS_4400_BAD_REQUEST, "invalid room_id")


def test_a_traversal_in_the_room_id_never_reaches_the_channel(connect: Connect) -> None:
    # The decoded path no longer matches the route: refused before any handshake.
    with pytest.raises(WebSocketDisconnect), connect("/ws/rooms/..%2F..%2Fetc") as ws:
        ws.receive_json()


def test_a_private_room_admits_only_users_whose_token_lists_it(
    client: TestClient, token_for: TokenFor, join: Join
) -> None:
    with join(rooms.RoomChannel, "eve", room_id="private-ops") as eve:
        eve.expect_closed(close_codes.WS_4403_FORBIDDEN)
    ops_token = token_for("ops", rooms=["private-ops"])
    with open_channel(client, rooms.RoomChannel, ops_token, room_id="private-ops") as ops:
        assert ops.expect(rooms.Joined).members == ["ops"]


def test_a_server_message_into_a_room_is_signed_by_the_caller(
    client: TestClient, token_for: TokenFor, join: Join
) -> None:
    headers = {"authorization": f"Bearer {token_for('announcer', scope='rooms:publish')}"}
    with lobby(join, "alice") as alice:
        alice.expect(rooms.Joined)
        body = {"content": "welcome"}
        response = client.post("/api/rooms/lobby/messages", json=body, headers=headers)
        assert response.status_code == 202
        said = alice.expect(rooms.RoomMessage)
    assert (said.room, said.content, said.user) == ("lobby", "welcome", "announcer")


def test_over_the_wire_a_room_with_two_members(server: Server) -> None:
    with server.connect("/ws/rooms/wire", "alice") as alice:
        assert receive(alice, "joined")["members"] == ["alice"]
        with server.connect("/ws/rooms/wire", "bob") as bob:
            assert receive(bob, "joined")["members"] == ["alice", "bob"]
            assert receive(alice, "user_joined")["user"] == "bob"
            bob.send(b"binary move")
            assert alice.recv(timeout=WAIT) == b"binary move"
        assert receive(alice, "user_left")["user"] == "bob"


@pytest.fixture
def two_processes(tmp_path: Path, redis_server: RedisServer) -> Iterator[tuple[Server, Server]]:
    """The app in two processes sharing a Redis; a dead one is reaped within 1.5 s (and a beat)."""
    shared = {"BROKER_URL": redis_server.url, "PRESENCE_TTL": "1.5"}
    with two_uvicorns(tmp_path, CLUSTER_SECRET, command=SERVE, **shared) as servers:
        yield servers


def test_a_member_back_with_since_gets_the_room_it_missed_from_the_other_process(
    two_processes: tuple[Server, Server],
) -> None:
    a, b = two_processes
    with b.connect(ROOM, "bob") as bob:
        receive(bob, "joined")
        settle(bob)
        with a.connect(ROOM, "alice") as alice:
            greeting = receive(alice, "joined")
            settle(alice)
        assert receive(bob, "user_joined")["user"] == "alice"
        assert receive(bob, "user_left")["user"] == "alice"
        bob.send(json.dumps({"type": "message", "content": "you missed this"}))
        b.post("/api/rooms/lobby/messages", {"content": "and this"}, "rooms:publish")
        since = f"{greeting['epoch']}:{greeting['offset']}"
        with b.connect(f"{ROOM}?since={since}", "alice") as alice:
            back = receive(alice, "joined")
            # Presence is the members list; the history is what was said.
            assert (back["recovered"], back["members"]) == (True, ["alice", "bob"])
            assert receive(alice, "message")["content"] == "you missed this"
            assert receive(alice, "message")["content"] == "and this"
            settle(alice)  # nothing more: each one once


def test_metrics_name_the_channel_never_the_room(client: TestClient, connect: Connect) -> None:
    for room in ("alpha-secret-plans", "beta-launch"):
        with connect(f"/ws/rooms/{room}", user="alice") as alice:
            receive_type(alice, "joined")
    metrics = client.get("/metrics").text
    assert 'azu_ws_connections_open{channel="/ws/rooms/{room_id}"} 0.0' in metrics
    assert "alpha" not in metrics
    assert "beta-launch" not in metrics


def settle(ws: ClientConnection) -> None:
    """Wait until the server is done with the socket's `on_connect`, its `user_joined` published.

    A client that joins at the same instant may otherwise list the user in
    `members` and hear their `user_joined` too.
    """
    ws.send('{"type": "ping"}')
    receive(ws, "pong")


def test_with_redis_a_room_across_two_processes_has_one_presence_and_no_ghosts(
    two_processes: tuple[Server, Server],
) -> None:
    a, b = two_processes
    with a.connect(ROOM, "alice") as alice:
        assert receive(alice, "joined")["members"] == ["alice"]
        settle(alice)
        with b.connect(ROOM, "bob") as bob:
            assert receive(bob, "joined")["members"] == ["alice", "bob"]
            assert receive(alice, "user_joined")["user"] == "bob"
            settle(bob)
            with a.connect(ROOM, "carol") as carol:
                assert receive(carol, "joined")["members"] == ["alice", "bob", "carol"]
                for ws in (alice, bob):
                    assert receive(ws, "user_joined")["user"] == "carol"
            for ws in (alice, bob):  # a departure on A is heard on B
                assert receive(ws, "user_left")["user"] == "carol"
            b.process.kill()  # a crash: bob's process says goodbye to no one
            assert receive(alice, "user_left")["user"] == "bob"
        with a.connect(ROOM, "dave") as dave:
            assert receive(dave, "joined")["members"] == ["alice", "dave"]


def test_with_redis_restarted_empty_each_process_writes_its_members_again(
    two_processes: tuple[Server, Server], redis_server: RedisServer
) -> None:
    a, b = two_processes
    with a.connect(ROOM, "alice") as alice:
        receive(alice, "joined")
        settle(alice)
        with b.connect(ROOM, "bob") as bob:
            assert receive(bob, "joined")["members"] == ["alice", "bob"]
            redis_server.stop()
            redis_server.start()  # without persistence: every presence entry is gone
            deadline = time.monotonic() + 3 * WAIT
            while True:
                with a.connect(ROOM, "carol") as carol:
                    members = receive(carol, "joined")["members"]
                if members == ["alice", "bob", "carol"] or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert members == ["alice", "bob", "carol"]


@pytest.mark.settings(ws_ping_interval=0.5, ws_ping_timeout=1.0)
def test_a_member_whose_heartbeat_stops_leaves_the_room(connect: Connect) -> None:
    with connect(ROOM, user="alice") as alice, connect(ROOM, user="bob") as bob:
        receive_type(alice, "joined")
        receive_type(bob, "joined")
        receive_type(alice, "user_joined")
        # alice answers every heartbeat; bob never does.
        while (frame := alice.receive_json())["type"] in ("heartbeat", "pong"):
            if frame["type"] == "heartbeat":
                alice.send_json({"type": "ping"})
        assert (frame["type"], frame["user"]) == ("user_left", "bob")
        assert closed_with(bob)[0] == close_codes.WS_4408_HEARTBEAT_TIMEOUT


def test_many_sockets_of_one_user_joining_and_leaving_in_turn_leave_no_ghost(
    client: TestClient, connect: Connect
) -> None:
    with connect(ROOM, user="alice") as alice:
        receive_type(alice, "joined")
        opened = [connect(ROOM, user="bob") for _ in range(6)]
        for number, socket in enumerate(opened):
            socket.__enter__()
            if number % 2:  # close every other one while the rest are still opening
                opened[number - 1].__exit__(None, None, None)
        for number in range(1, 6, 2):
            opened[number].__exit__(None, None, None)
        # bob arrived once and left once, however his sockets interleaved.
        assert receive_type(alice, "user_joined")["user"] == "bob"
        assert receive_type(alice, "user_left")["user"] == "bob"
        services = services_of(client)
        assert call(client, services.hub.presence.members, "room:lobby") == ["alice"]


def test_a_refreshed_token_that_no_longer_grants_the_room_closes_with_4403(
    connect: Connect, token_for: TokenFor
) -> None:
    room, grant = "/ws/rooms/private-ops", {"rooms": ["private-ops"]}
    with connect(room, user="ops", claims=grant) as ops:
        receive_type(ops, "joined")
        ops.send_json({"type": "auth", "token": token_for("ops")})  # no `rooms` claim now
        assert closed_with(ops) == (close_codes.WS_4403_FORBIDDEN, "Forbidden")
