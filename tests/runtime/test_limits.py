"""Limits: a rate limit per user, invalid-frame floods, caps on connections and attempts."""

import pytest
from azu_ws.admission import TOO_MANY_ATTEMPTS
from azu_ws.close_codes import (
    WS_1008_POLICY_VIOLATION,
    WS_1013_TRY_AGAIN_LATER,
    WS_4401_UNAUTHORIZED,
    WS_4429_TOO_MANY_CONNECTIONS,
)
from azu_ws.refusals import address_key
from azu_ws.runner import MAX_INVALID_IN_A_ROW
from azu_ws.testing import Connect, closed_with, receive_type
from starlette.testclient import TestClient, WebSocketDenialResponse

from .bench import TokenFor
from .testapp.channels import PROBE

PATH = PROBE


@pytest.mark.settings(ws_rate_limit=0.001, ws_rate_burst=3)
def test_over_the_rate_limit_a_message_is_dropped_with_an_error(connect: Connect) -> None:
    with connect(PATH, user="alice") as alice, connect(PATH, user="bob") as bob:
        receive_type(alice, "connected")
        receive_type(bob, "connected")
        for n in range(4):
            alice.send_json({"type": "message", "content": str(n)})
        for n in range(3):
            assert receive_type(alice, "message")["content"] == str(n)
        assert receive_type(alice, "error")["code"] == "rate_limited"
        bob.send_json({"type": "message", "content": "bob is not slowed"})
        for n in range(3):
            assert receive_type(bob, "message")["content"] == str(n)
        assert receive_type(bob, "message")["content"] == "bob is not slowed"


@pytest.mark.settings(ws_rate_limit=0.001, ws_rate_burst=3)
def test_a_client_that_keeps_flooding_is_closed_with_1008(connect: Connect) -> None:
    with connect(PATH, user="alice") as alice:
        receive_type(alice, "connected")
        for _ in range(3 + 3 + 1):  # the burst, three refusals, one more
            alice.send_json({"type": "ping"})
        for _ in range(3):
            receive_type(alice, "pong")
        assert [receive_type(alice, "error")["code"] for _ in range(3)] == ["rate_limited"] * 3
        assert closed_with(alice) == (WS_1008_POLICY_VIOLATION, "Rate limit exceeded")


@pytest.mark.settings(ws_max_connections=2)
def test_beyond_the_connection_cap_a_connection_is_refused_with_1013(connect: Connect) -> None:
    with connect(PATH, user="alice") as first, connect(PATH, user="bob") as second:
        receive_type(first, "connected")
        receive_type(second, "connected")
        with connect(PATH, user="carol") as third:
            code, reason = closed_with(third)
        assert code == WS_1013_TRY_AGAIN_LATER
        assert "try again later" in reason
    with connect(PATH, user="carol") as later:
        receive_type(later, "connected")


@pytest.mark.settings(ws_max_connections_per_user=2)
def test_beyond_the_per_user_cap_a_connection_is_refused_with_4429(connect: Connect) -> None:
    with connect(PATH, user="alice") as phone, connect(PATH, user="alice") as laptop:
        receive_type(phone, "connected")
        receive_type(laptop, "connected")
        with connect(PATH, user="alice") as tablet:
            assert closed_with(tablet) == (
                WS_4429_TOO_MANY_CONNECTIONS,
                "Too many connections for this user",
            )
        with connect(PATH, user="bob") as bob:
            receive_type(bob, "connected")


def test_a_stream_of_invalid_frames_is_closed_with_1008(connect: Connect) -> None:
    with connect(PATH, user="alice") as alice:
        receive_type(alice, "connected")
        for _ in range(MAX_INVALID_IN_A_ROW + 1):
            alice.send_text("{nope")
        errors = [receive_type(alice, "error")["code"] for _ in range(MAX_INVALID_IN_A_ROW)]
        assert errors == ["invalid_json"] * MAX_INVALID_IN_A_ROW
        assert closed_with(alice) == (WS_1008_POLICY_VIOLATION, "Too many invalid messages")


@pytest.mark.settings(ws_rate_burst=100)
def test_a_valid_frame_between_invalid_ones_resets_the_count(connect: Connect) -> None:
    with connect(PATH, user="alice") as alice:
        receive_type(alice, "connected")
        for _ in range(2):
            for _ in range(MAX_INVALID_IN_A_ROW):
                alice.send_text("{nope")
                receive_type(alice, "error")
            alice.send_json({"type": "ping"})
            receive_type(alice, "pong")


@pytest.mark.settings(ws_rate_limit=0.001, ws_rate_burst=3)
def test_the_rate_limit_is_the_users_across_their_sockets_and_reconnects(
    connect: Connect,
) -> None:
    with connect(PATH, user="alice") as phone, connect(PATH, user="alice") as laptop:
        receive_type(phone, "connected")
        receive_type(laptop, "connected")
        for ws in (phone, laptop, phone):
            ws.send_json({"type": "ping"})
            receive_type(ws, "pong")
        laptop.send_json({"type": "ping"})
        assert receive_type(laptop, "error")["code"] == "rate_limited"
    # Reconnecting does not refill the bucket.
    with connect(PATH, user="alice") as again:
        receive_type(again, "connected")
        again.send_json({"type": "ping"})
        assert receive_type(again, "error")["code"] == "rate_limited"
    with connect(PATH, user="bob") as bob:  # another user is not slowed
        receive_type(bob, "connected")
        bob.send_json({"type": "ping"})
        receive_type(bob, "pong")


@pytest.mark.settings(ws_connect_rate=0.001, ws_connect_burst=3)
def test_a_user_reconnecting_too_often_is_refused_with_4429(connect: Connect) -> None:
    for _ in range(3):
        with connect(PATH, user="alice") as ws:
            receive_type(ws, "connected")
    with connect(PATH, user="alice") as ws:
        assert closed_with(ws) == (WS_4429_TOO_MANY_CONNECTIONS, TOO_MANY_ATTEMPTS)
    with connect(PATH, user="bob") as bob:
        receive_type(bob, "connected")


@pytest.mark.settings(ws_connect_rate_per_address=0.001, ws_connect_burst_per_address=3)
def test_an_address_opening_too_many_handshakes_is_refused_with_429_token_or_not(
    client: TestClient, token_for: TokenFor
) -> None:
    for user in ("alice", "bob"):
        with client.websocket_connect(
            PATH, headers={"authorization": f"Bearer {token_for(user)}"}
        ) as ws:
            receive_type(ws, "connected")
    with client.websocket_connect(PATH, headers={"authorization": "Bearer not-a-token"}) as ws:
        assert closed_with(ws)[0] == WS_4401_UNAUTHORIZED
    headers = {"authorization": f"Bearer {token_for('carol')}"}
    with (
        pytest.raises(WebSocketDenialResponse) as refused,
        client.websocket_connect(PATH, headers=headers),
    ):
        pass
    assert refused.value.status_code == 429
    assert refused.value.text == TOO_MANY_ATTEMPTS
    other = TestClient(client.app, client=("192.0.2.9", 50000))
    with other, other.websocket_connect(PATH, headers=headers) as ws:
        receive_type(ws, "connected")


@pytest.mark.settings(ws_connect_rate_per_address=0.001, ws_connect_burst_per_address=2)
def test_a_handshake_refused_for_its_origin_counts_against_its_address(
    client: TestClient, connect: Connect
) -> None:
    foreign_origin = {"origin": "https://evil.example"}
    with (
        pytest.raises(WebSocketDenialResponse) as foreign,
        client.websocket_connect(PATH, headers=foreign_origin),
    ):
        pass
    assert foreign.value.status_code == 403
    with connect(PATH, user="alice") as ws:
        receive_type(ws, "connected")
    with pytest.raises(WebSocketDenialResponse) as refused, connect(PATH, user="bob"):
        pass
    assert refused.value.status_code == 429


def test_an_ipv6_client_is_counted_with_its_slash_64_and_an_ipv4_one_alone() -> None:
    # An IPv4 client seen through an IPv6 socket: tests/runtime/test_edge_refusals.py.
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:abcd::7")
    assert address_key("2001:db8:1:2::1") != address_key("2001:db8:1:3::1")
    assert address_key("192.0.2.1") != address_key("192.0.2.2")
    assert address_key("testclient") == "testclient"
