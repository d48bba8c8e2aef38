"""The demo page and its client are served; development tokens exist in development only."""

import logging

import pytest
from azu_ws.auth import verify_token
from azu_ws.testing import receive_type
from fastapi import FastAPI
from jose import jwt
from starlette.testclient import TestClient

from .testapp.app import TITLE, create_app
from .testapp.channels import PROBE
from .testapp.config import Settings

# The demo page as a browser on this machine asks for it: by loopback, named so.
ON_THIS_MACHINE = {"host": "localhost:8000"}


def test_the_demo_page_and_its_scripts_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert f"<title>{TITLE}: demo</title>" in page.text
    assert '<script type="module" src="/static/demo.js">' in page.text
    for script in ("demo.js", "schema-forms.js", "azu-ws.js"):
        response = client.get(f"/static/{script}")
        assert response.status_code == 200
        assert "javascript" in response.headers["content-type"]
    assert "export class AzuSocket" in client.get("/static/azu-ws.js").text
    assert client.get("/static/azu-ws.d.ts").status_code == 200


def test_outside_development_there_is_no_development_token(client: TestClient) -> None:
    assert client.get("/").status_code == 200  # the page is there, asking for a token
    assert client.post("/dev/token", json={"user": "alice"}).status_code == 404


@pytest.mark.settings(environment="development")
def test_in_development_a_token_is_given_for_the_name_and_it_opens_a_socket(
    client: TestClient, settings: Settings
) -> None:
    answer = client.post("/dev/token", json={"user": "alice"}, headers=ON_THIS_MACHINE)
    assert answer.status_code == 200
    body = answer.json()
    assert (body["user"], body["expires_in"]) == ("alice", 900)
    user = verify_token(body["token"], settings)
    assert user.id == "alice"
    assert "scope" not in jwt.get_unverified_claims(body["token"])  # no HTTP API scope
    with client.websocket_connect(PROBE, subprotocols=["bearer", body["token"]]) as ws:
        assert receive_type(ws, "connected")["user"] == "alice"


@pytest.mark.settings(environment="development")
def test_a_development_token_is_refused_to_a_client_on_another_machine(app: FastAPI) -> None:
    with TestClient(app, client=("203.0.113.7", 50000)) as elsewhere:
        answer = elsewhere.post("/dev/token", json={"user": "alice"})
    assert answer.status_code == 403
    assert "this machine only" in answer.json()["detail"]


def test_a_development_server_says_loudly_that_it_gives_tokens_away(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    create_app(settings.model_copy(update={"environment": "development"}))
    create_app(settings)  # production: not a word of it
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "/dev/token" in r.msg]
    assert len(warnings) == 1


@pytest.mark.settings(environment="development")
@pytest.mark.parametrize(
    "body",
    [
        {"user": ""},
        {"user": "a b"},
        {"user": "alice", "ttl_seconds": 10**9},
        {"user": "alice", "scopes": ["users:revoke"]},  # API tokens come from `token --scope`
        {"user": "alice", "admin": True},
    ],
)
def test_a_bad_development_token_request_is_refused_with_422(
    client: TestClient, body: dict[str, object]
) -> None:
    answer = client.post("/dev/token", json=body, headers=ON_THIS_MACHINE)
    assert answer.status_code == 422
    assert answer.json()["detail"]


@pytest.mark.settings(environment="development")
def test_a_development_token_is_refused_to_a_page_that_renamed_itself_this_machine(
    client: TestClient,
) -> None:
    # DNS rebinding: a foreign site's name made to point at 127.0.0.1.
    answer = client.post(
        "/dev/token", json={"user": "alice"}, headers={"host": "attacker.example:8000"}
    )
    assert answer.status_code == 403
    local = client.post("/dev/token", json={"user": "alice"}, headers=ON_THIS_MACHINE)
    assert local.status_code == 200
