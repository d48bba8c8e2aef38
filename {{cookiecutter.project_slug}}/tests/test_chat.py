"""The chat channel as its users see it."""

import json
from datetime import datetime

from azu_ws.testing import Connect, Server, receive, receive_type, services_of
from starlette.testclient import TestClient

PATH = "/ws/chat"


def test_connect_greets_with_connected_and_an_rfc3339_timestamp(connect: Connect) -> None:
    with connect(PATH, user="alice") as ws:
        frame = receive_type(ws, "connected")
        assert frame["message"] == "Connected to chat"
        assert frame["user"] == "alice"
        assert datetime.fromisoformat(frame["timestamp"]).utcoffset() is not None


def test_ping_replies_with_pong(connect: Connect) -> None:
    with connect(PATH) as ws:
        receive_type(ws, "connected")
        ws.send_json({"type": "ping"})
        pong = receive_type(ws, "pong")
        assert "ref" not in pong
        assert datetime.fromisoformat(pong["timestamp"])


def test_pong_echoes_the_clients_ref(connect: Connect) -> None:
    with connect(PATH) as ws:
        receive_type(ws, "connected")
        ws.send_json({"type": "ping", "ref": "r-17"})
        assert receive_type(ws, "pong")["ref"] == "r-17"
        ws.send_json({"type": "ping", "ref": 18})
        assert receive_type(ws, "pong")["ref"] == 18


def test_message_reaches_every_client_including_the_sender(connect: Connect) -> None:
    with connect(PATH, user="alice") as alice, connect(PATH, user="bob") as bob:
        receive_type(alice, "connected")
        receive_type(bob, "connected")
        alice.send_json({"type": "message", "content": "hello"})
        for ws in (alice, bob):
            frame = receive_type(ws, "message")
            assert (frame["content"], frame["user"]) == ("hello", "alice")
            assert datetime.fromisoformat(frame["timestamp"])


def test_message_author_comes_from_the_token_not_the_payload(connect: Connect) -> None:
    with connect(PATH, user="alice") as alice:
        receive_type(alice, "connected")
        alice.send_json({"type": "message", "content": "hi", "user": "mallory"})
        error = receive_type(alice, "error")
        assert error["code"] == "invalid_message"
        assert "user" in error["message"]
        alice.send_json({"type": "message", "content": "hi"})
        assert receive_type(alice, "message")["user"] == "alice"


def test_typing_reaches_everyone_with_the_user(connect: Connect) -> None:
    with connect(PATH, user="alice") as alice, connect(PATH, user="bob") as bob:
        receive_type(alice, "connected")
        receive_type(bob, "connected")
        bob.send_json({"type": "typing", "is_typing": True})
        for ws in (alice, bob):
            frame = receive_type(ws, "typing")
            assert (frame["user"], frame["is_typing"]) == ("bob", True)
            assert datetime.fromisoformat(frame["timestamp"])


def test_a_client_that_left_no_longer_receives(connect: Connect) -> None:
    with connect(PATH, user="alice") as alice:
        receive_type(alice, "connected")
        with connect(PATH, user="bob") as bob:
            receive_type(bob, "connected")
        alice.send_json({"type": "message", "content": "anyone?"})
        assert receive_type(alice, "message")["content"] == "anyone?"


def test_leaving_removes_the_socket_from_every_topic(client: TestClient, connect: Connect) -> None:
    hub = services_of(client).hub
    with connect(PATH, user="alice") as alice:
        receive_type(alice, "connected")
        (connection,) = hub.connections
        topics = set(connection.topics)
        assert len(topics) >= 3  # the channel's, the user's, and everyone's
    assert hub.connections == set()
    assert all(hub.members(topic) == frozenset() for topic in topics)


def test_a_client_that_vanishes_mid_broadcast_troubles_no_one(connect: Connect) -> None:
    with connect(PATH, user="alice") as alice:
        receive_type(alice, "connected")
        with connect(PATH, user="bob") as bob:
            receive_type(bob, "connected")
            for number in range(10):
                alice.send_json({"type": "message", "content": str(number)})
            bob.close(1001)  # gone without reading a single message
        for number in range(10):
            assert receive_type(alice, "message")["content"] == str(number)
        alice.send_json({"type": "ping"})
        receive_type(alice, "pong")


def test_over_the_wire_a_message_from_one_client_reaches_another(server: Server) -> None:
    with server.connect(PATH, "alice") as alice, server.connect(PATH, "bob") as bob:
        receive(alice, "connected")
        receive(bob, "connected")
        alice.send(json.dumps({"type": "message", "content": "over the wire"}))
        for ws in (alice, bob):
            frame = receive(ws, "message")
            assert (frame["content"], frame["user"]) == ("over the wire", "alice")


def test_a_client_back_with_since_gets_the_chat_it_missed(connect: Connect) -> None:
    with connect(PATH, user="bob") as bob:
        receive_type(bob, "connected")
        with connect(PATH, user="alice") as alice:
            greeting = receive_type(alice, "connected")
        bob.send_json({"type": "typing", "is_typing": True})  # of the moment: not kept
        bob.send_json({"type": "message", "content": "while you were out"})
        bob.send_json({"type": "message", "content": "bye"})
        since = f"{greeting['epoch']}:{greeting['offset']}"
        with connect(f"{PATH}?since={since}", user="alice") as alice:
            assert receive_type(alice, "connected")["recovered"] is True
            missed = receive_type(alice, "message")
            assert (missed["content"], missed["user"]) == ("while you were out", "bob")
            assert receive_type(alice, "message")["offset"] == missed["offset"] + 1
