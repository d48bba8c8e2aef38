"""The chat channel as its users see it."""

import json

from azu_ws import Connected, Ping, Pong
from azu_ws.testing import Join, Server, receive, services_of
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.channels.chat import ChatChannel
from {{ cookiecutter.package_name }}.messages import NewMessage, PostMessage, SetTyping, UserTyping

PATH = ChatChannel.path


def post(content: str) -> PostMessage:
    return PostMessage(type="message", content=content)


def test_connect_greets_with_connected_and_an_aware_timestamp(join: Join) -> None:
    with join(ChatChannel, "alice") as alice:
        greeting = alice.expect(Connected)
        assert (greeting.message, greeting.user) == ("Connected to chat", "alice")
        assert greeting.timestamp.utcoffset() is not None


def test_ping_replies_with_pong_echoing_the_clients_ref(join: Join) -> None:
    with join(ChatChannel) as alice:
        alice.expect(Connected)
        alice.send(Ping(type="ping"))
        assert alice.expect(Pong).ref is None
        for ref in ("r-17", 18):
            alice.send(Ping(type="ping", ref=ref))
            assert alice.expect(Pong).ref == ref


def test_message_reaches_every_client_including_the_sender(join: Join) -> None:
    with join(ChatChannel, "alice") as alice, join(ChatChannel, "bob") as bob:
        alice.expect(Connected)
        bob.expect(Connected)
        alice.send(post("hello"))
        for client in (alice, bob):
            said = client.expect(NewMessage)
            assert (said.content, said.user) == ("hello", "alice")


def test_message_author_comes_from_the_token_not_the_payload(join: Join) -> None:
    with join(ChatChannel, "alice") as alice:
        alice.expect(Connected)
        alice.send_raw('{"type": "message", "content": "hi", "user": "mallory"}')
        assert "user" in alice.expect_error("invalid_message").message
        alice.send(post("hi"))
        assert alice.expect(NewMessage).user == "alice"


def test_typing_reaches_everyone_with_the_user(join: Join) -> None:
    with join(ChatChannel, "alice") as alice, join(ChatChannel, "bob") as bob:
        alice.expect(Connected)
        bob.expect(Connected)
        bob.send(SetTyping(type="typing", is_typing=True))
        for client in (alice, bob):
            typing = client.expect(UserTyping)
            assert (typing.user, typing.is_typing) == ("bob", True)


def test_a_client_that_left_no_longer_receives(join: Join) -> None:
    with join(ChatChannel, "alice") as alice:
        alice.expect(Connected)
        with join(ChatChannel, "bob") as bob:
            bob.expect(Connected)
        alice.send(post("anyone?"))
        assert alice.expect(NewMessage).content == "anyone?"
        alice.expect_quiet()


def test_leaving_removes_the_socket_from_every_topic(client: TestClient, join: Join) -> None:
    hub = services_of(client).hub
    with join(ChatChannel, "alice") as alice:
        alice.expect(Connected)
        (connection,) = hub.connections
        topics = set(connection.topics)
        assert len(topics) >= 3  # the channel's, the user's, and everyone's
    assert hub.connections == set()
    assert all(hub.members(topic) == frozenset() for topic in topics)


def test_a_client_that_vanishes_mid_broadcast_troubles_no_one(join: Join) -> None:
    with join(ChatChannel, "alice") as alice:
        alice.expect(Connected)
        with join(ChatChannel, "bob") as bob:
            bob.expect(Connected)
            for number in range(10):
                alice.send(post(str(number)))
            bob.close()  # gone without reading a single message
        assert [alice.expect(NewMessage).content for _ in range(10)] == list(map(str, range(10)))
        alice.expect_quiet()


def test_over_the_wire_a_message_from_one_client_reaches_another(server: Server) -> None:
    with server.connect(PATH, "alice") as alice, server.connect(PATH, "bob") as bob:
        receive(alice, "connected")
        receive(bob, "connected")
        alice.send(json.dumps({"type": "message", "content": "over the wire"}))
        for ws in (alice, bob):
            frame = receive(ws, "message")
            assert (frame["content"], frame["user"]) == ("over the wire", "alice")


def test_a_client_back_with_since_gets_the_chat_it_missed(join: Join) -> None:
    with join(ChatChannel, "bob") as bob:
        bob.expect(Connected)
        with join(ChatChannel, "alice") as alice:
            greeting = alice.expect(Connected)
        bob.send(SetTyping(type="typing", is_typing=True))  # of the moment: not kept
        bob.send(post("while you were out"))
        bob.send(post("bye"))
        since = f"{greeting.epoch}:{greeting.offset}"
        with join(ChatChannel, "alice", query=f"since={since}") as alice:
            assert alice.expect(Connected).recovered is True
            missed = alice.expect(NewMessage)
            assert (missed.content, missed.user) == ("while you were out", "bob")
            assert alice.expect(NewMessage).offset == (missed.offset or 0) + 1
