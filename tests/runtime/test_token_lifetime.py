"""Token lifetime: an expired token ends the socket with 4401, unless refreshed in band."""

import time

import pytest
from azu_ws.auth import create_token
from azu_ws.close_codes import WS_4401_UNAUTHORIZED
from azu_ws.testing import closed_with, receive_type
from starlette.testclient import TestClient

from .bench import TokenFor
from .testapp.channels import PROBE
from .testapp.config import Settings


def short_lived(settings: Settings, user: str, seconds: int = 2) -> str:
    return create_token(user, settings, ttl_seconds=seconds)


def test_a_socket_is_closed_with_4401_when_its_token_expires(
    client: TestClient, settings: Settings
) -> None:
    headers = {"authorization": f"Bearer {short_lived(settings, 'alice')}"}
    with client.websocket_connect(PROBE, headers=headers) as ws:
        receive_type(ws, "connected")
        assert closed_with(ws) == (WS_4401_UNAUTHORIZED, "token expired")


def test_a_fresh_token_in_band_keeps_the_socket_open_past_the_old_expiry(
    client: TestClient, settings: Settings, token_for: TokenFor
) -> None:
    headers = {"authorization": f"Bearer {short_lived(settings, 'alice')}"}
    with client.websocket_connect(PROBE, headers=headers) as ws:
        receive_type(ws, "connected")
        ws.send_json({"type": "auth", "token": token_for("alice"), "ref": "r1"})
        authenticated = receive_type(ws, "authenticated")
        assert authenticated["ref"] == "r1"
        assert authenticated["expires_at"] > time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        time.sleep(2.5)  # past the first token's expiry
        ws.send_json({"type": "ping"})
        receive_type(ws, "pong")


@pytest.mark.parametrize(
    ("token_of", "reason"),
    [("bob", "the token is for another user"), ("garbage", "invalid token")],
)
def test_a_refused_refresh_is_an_error_and_changes_nothing(
    client: TestClient, settings: Settings, token_for: TokenFor, token_of: str, reason: str
) -> None:
    headers = {"authorization": f"Bearer {short_lived(settings, 'alice')}"}
    fresh = "not.a.token" if token_of == "garbage" else token_for(token_of)
    with client.websocket_connect(PROBE, headers=headers) as ws:
        receive_type(ws, "connected")
        ws.send_json({"type": "auth", "token": fresh})
        error = receive_type(ws, "error")
        assert (error["code"], error["message"]) == ("invalid_token", reason)
        assert closed_with(ws) == (WS_4401_UNAUTHORIZED, "token expired")
