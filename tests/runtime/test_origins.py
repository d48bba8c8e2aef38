"""The origin check: browsers from other sites are refused; non-browsers and our own pages pass."""

import pytest
from azu_ws.close_codes import WS_4403_FORBIDDEN
from azu_ws.testing import closed_with
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from ..conftest import TokenFor
from .probe import PROBE


def open_from(client: TestClient, token_for: TokenFor, origin: str | None) -> object:
    """The first frame's type, or the (code, reason) the socket was closed with."""
    headers = {"authorization": f"Bearer {token_for('alice')}"}
    if origin is not None:
        headers["origin"] = origin
    with client.websocket_connect(PROBE, headers=headers) as ws:
        try:
            return ws.receive_json()["type"]
        except WebSocketDisconnect as closed:
            return closed.code, closed.reason


def test_a_foreign_origin_is_refused_with_4403(client: TestClient, token_for: TokenFor) -> None:
    assert open_from(client, token_for, "https://evil.example") == (
        WS_4403_FORBIDDEN,
        "origin not allowed",
    )


def test_no_origin_and_the_same_origin_pass(client: TestClient, token_for: TokenFor) -> None:
    assert open_from(client, token_for, None) == "connected"
    assert open_from(client, token_for, "http://testserver") == "connected"


@pytest.mark.settings(allowed_origins=["https://app.example"])
def test_an_allowed_origin_passes(client: TestClient, token_for: TokenFor) -> None:
    assert open_from(client, token_for, "https://app.example") == "connected"
    assert open_from(client, token_for, "https://evil.example") == (
        WS_4403_FORBIDDEN,
        "origin not allowed",
    )


def test_the_origin_is_checked_before_the_token(client: TestClient) -> None:
    headers = {"origin": "https://evil.example"}
    with client.websocket_connect(PROBE, headers=headers) as ws:
        assert closed_with(ws) == (WS_4403_FORBIDDEN, "origin not allowed")


@pytest.mark.settings(allowed_origins=["https://App.Example"])
def test_scheme_and_host_compare_without_regard_to_case(
    client: TestClient, token_for: TokenFor
) -> None:
    assert open_from(client, token_for, "https://app.example") == "connected"
    assert open_from(client, token_for, "HTTP://TESTSERVER") == "connected"
