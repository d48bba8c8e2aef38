"""Limits: a rate limit per connection, invalid-frame floods, caps on connections."""

import pytest

from {{ cookiecutter.package_name }}.close_codes import (
    WS_1008_POLICY_VIOLATION,
    WS_1013_TRY_AGAIN_LATER,
    WS_4429_TOO_MANY_CONNECTIONS,
)
from {{ cookiecutter.package_name }}.core.runner import MAX_INVALID_IN_A_ROW

from .conftest import Connect, closed_with, receive_type
from .probe import PROBE

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
