"""The origin check: browsers from other sites are refused with HTTP 403 before the upgrade;
non-browsers and our own pages pass."""

from pathlib import Path

import pytest
from azu_ws.settings import SettingsError, load_settings
from starlette.testclient import TestClient, WebSocketDenialResponse

from .bench import TEST_SECRET, TokenFor
from .testapp.channels import PROBE
from .testapp.config import Settings

FOREIGN = (403, "origin not allowed")


def open_from(client: TestClient, token_for: TokenFor, origin: str | None) -> object:
    """The first frame's type, or the HTTP status and body the handshake was refused with."""
    headers = {"authorization": f"Bearer {token_for('alice')}"}
    if origin is not None:
        headers["origin"] = origin
    try:
        with client.websocket_connect(PROBE, headers=headers) as ws:
            return ws.receive_json()["type"]
    except WebSocketDenialResponse as refused:
        return refused.status_code, refused.text


def test_a_foreign_origin_is_refused_with_403(client: TestClient, token_for: TokenFor) -> None:
    assert open_from(client, token_for, "https://evil.example") == FOREIGN


def test_no_origin_and_the_same_origin_pass(client: TestClient, token_for: TokenFor) -> None:
    assert open_from(client, token_for, None) == "connected"
    assert open_from(client, token_for, "http://testserver") == "connected"


@pytest.mark.settings(allowed_origins=["https://app.example"])
def test_an_allowed_origin_passes(client: TestClient, token_for: TokenFor) -> None:
    assert open_from(client, token_for, "https://app.example") == "connected"
    assert open_from(client, token_for, "https://evil.example") == FOREIGN


def test_the_origin_is_checked_before_the_token(client: TestClient) -> None:
    headers = {"origin": "https://evil.example"}
    with (
        pytest.raises(WebSocketDenialResponse) as refused,
        client.websocket_connect(PROBE, headers=headers),
    ):
        pass
    assert (refused.value.status_code, refused.value.text) == FOREIGN


@pytest.mark.settings(allowed_origins=["https://App.Example"])
def test_scheme_and_host_compare_without_regard_to_case(
    client: TestClient, token_for: TokenFor
) -> None:
    assert open_from(client, token_for, "https://app.example") == "connected"
    assert open_from(client, token_for, "HTTP://TESTSERVER") == "connected"


@pytest.mark.settings(allowed_origins='["https://app.example/", "https://admin.example"]')
def test_the_json_list_form_means_the_same_as_the_comma_form(
    client: TestClient, token_for: TokenFor
) -> None:
    # What pydantic-settings users write for a list: each origin in it is allowed.
    assert open_from(client, token_for, "https://app.example") == "connected"
    assert open_from(client, token_for, "https://admin.example") == "connected"
    assert open_from(client, token_for, "https://evil.example") == FOREIGN


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ('["https://app.example"', "starts like a JSON list but is not one"),
        ("https://app.example/login", "'https://app.example/login' is not an origin"),
        ("app.example", "'app.example' is not an origin"),
        ('"https://app.example"', "is not an origin"),
    ],
)
def test_an_origin_that_cannot_be_one_stops_the_start_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str, named: str
) -> None:
    monkeypatch.chdir(tmp_path)  # away from the project's .env
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    monkeypatch.setenv("ALLOWED_ORIGINS", value)
    with pytest.raises(SettingsError, match="ALLOWED_ORIGINS: ") as refused:
        load_settings(Settings)
    assert named in str(refused.value)
    assert "\n" not in str(refused.value)


def test_an_ipv6_origin_and_star_are_origins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://[::1]:8443, *")
    assert load_settings(Settings).allowed_origins == ["https://[::1]:8443", "*"]
