"""The typed test kit (`azu_ws.testing.ChannelClient`): what a channel's tests see through it."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from azu_ws.close_codes import WS_4401_UNAUTHORIZED
from azu_ws.messages import Auth, Connected, Ping, Pong
from azu_ws.testing import (
    RedisServer,
    Server,
    open_channel,
    served_channel,
    uvicorn,
    uvicorn_on,
)
from starlette.testclient import TestClient

from .bench import SERVE, TEST_SECRET, TokenFor
from .testapp.channels import ProbeChannel
from .testapp.messages import NewMessage, PostMessage


def post(content: str) -> PostMessage:
    return PostMessage(type="message", content=content)


def test_each_message_comes_back_as_its_model(client: TestClient, token_for: TokenFor) -> None:
    with open_channel(client, ProbeChannel, token_for("alice")) as alice:
        assert alice.expect(Connected).user == "alice"
        alice.send(post("hello"))
        said = alice.expect(NewMessage)
        assert (said.content, said.user, said.offset) == ("hello", "alice", 1)
        assert alice.since == f"{said.epoch}:1"


def test_a_message_of_another_kind_fails_with_what_came_instead(
    client: TestClient, token_for: TokenFor
) -> None:
    wanted = r'/ws/probe: expected Pong, got \{"epoch".*"type":"connected"'
    with (
        open_channel(client, ProbeChannel, token_for("alice")) as alice,
        pytest.raises(AssertionError, match=wanted),
    ):
        alice.expect(Pong)


def test_a_reply_is_the_one_with_the_requests_ref_and_the_rest_wait_their_turn(
    client: TestClient, token_for: TokenFor
) -> None:
    with open_channel(client, ProbeChannel, token_for("alice")) as alice:
        alice.send(post("first"))
        pong = alice.request(Ping(type="ping"), Pong)
        assert pong.ref is not None
        assert alice.expect(Connected).user == "alice"  # came before the pong: kept, in order
        assert alice.expect(NewMessage).content == "first"
        alice.expect_quiet()


def test_an_error_and_a_close_are_expected_by_their_codes(
    client: TestClient, token_for: TokenFor
) -> None:
    with open_channel(client, ProbeChannel, token_for("alice")) as alice:
        alice.expect(Connected)
        alice.wire.send('{"type": "shout"}')
        assert "shout" in alice.expect_error("unknown_type").message
        alice.send(Auth(type="auth", token="not-a-token"))
        with pytest.raises(
            AssertionError, match=r"expected error 'unknown_type', got .*invalid_tok"
        ):
            alice.expect_error("unknown_type")
    with open_channel(client, ProbeChannel, "not.a.jwt") as bob:
        assert bob.expect_closed(WS_4401_UNAUTHORIZED) == (WS_4401_UNAUTHORIZED, "invalid token")


def test_a_wait_ends_with_what_was_expected_and_for_how_long(
    client: TestClient, token_for: TokenFor
) -> None:
    with open_channel(client, ProbeChannel, token_for("alice"), timeout=0.3) as alice:
        alice.expect(Connected)
        with pytest.raises(
            AssertionError, match=r"expected NewMessage, nothing came within 0\.3 s"
        ):
            alice.expect(NewMessage)


@pytest.mark.settings(ws_ping_interval=0.2, ws_ping_timeout=0.6)
def test_heartbeats_are_answered_for_the_test(client: TestClient, token_for: TokenFor) -> None:
    with open_channel(client, ProbeChannel, token_for("alice"), timeout=1.5) as alice:
        alice.expect(Connected)
        # Several heartbeats come and go meanwhile; the socket stays open.
        with pytest.raises(AssertionError, match=r"nothing came within 1\.5 s"):
            alice.expect(NewMessage)
        alice.expect_quiet()


@pytest.fixture
def served(tmp_path: Path, redis_server: RedisServer) -> Iterator[Server]:
    (tmp_path / "first").mkdir()
    with uvicorn(
        tmp_path / "first", TEST_SECRET, command=SERVE, BROKER_URL=redis_server.url
    ) as server:
        yield server


def test_over_real_sockets_a_client_resumes_across_a_restart_missing_nothing(
    served: Server, redis_server: RedisServer, tmp_path: Path
) -> None:
    port = int(served.url.rsplit(":", 1)[1])
    with served_channel(served.url, ProbeChannel, served.token("alice")) as alice:
        alice.expect(Connected)
        alice.send(post("before"))
        assert alice.expect(NewMessage).content == "before"
        assert served.stop()  # a deploy: alice's socket is closed with 1012
        (tmp_path / "second").mkdir()
        with uvicorn_on(
            port, tmp_path / "second", TEST_SECRET, command=SERVE, BROKER_URL=redis_server.url
        ) as restarted:
            with served_channel(restarted.url, ProbeChannel, restarted.token("bob")) as bob:
                bob.expect(Connected)
                bob.send(post("while alice was away"))
                bob.expect(NewMessage)
            back = alice.expect(Connected)
            assert back.recovered is True
            assert alice.expect(NewMessage).content == "while alice was away"
            alice.expect_quiet()
