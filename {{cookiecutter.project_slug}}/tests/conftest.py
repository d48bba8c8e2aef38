"""Fixtures: settings with a known secret, an app per test, and signed-in sockets."""

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient, WebSocketTestSession

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.auth import create_token
from {{ cookiecutter.package_name }}.config import Settings

TEST_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"

Connect = Callable[..., AbstractContextManager[WebSocketTestSession]]


@pytest.fixture(autouse=True)
def _no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests state their settings; a variable exported in the shell must not leak in.
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def settings() -> Settings:
    return Settings(_env_file=None, environment="production", jwt_secret=TEST_SECRET)


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    # One client for the whole test: its sockets share one event loop and the
    # lifespan (hub, broker) runs around them.
    with TestClient(app) as client:
        yield client


@pytest.fixture
def token_for(settings: Settings) -> Callable[[str], str]:
    def token_for(user: str) -> str:
        return create_token(user, settings)

    return token_for


@pytest.fixture
def connect(client: TestClient, token_for: Callable[[str], str]) -> Connect:
    """Open `path` as `user`, with the token in the Authorization header."""

    def connect(
        path: str = "/ws/chat", user: str = "alice", **kwargs: Any
    ) -> AbstractContextManager[WebSocketTestSession]:
        headers = {"authorization": f"Bearer {token_for(user)}"}
        return client.websocket_connect(path, headers=headers, **kwargs)

    return connect


def receive_type(ws: WebSocketTestSession, expected: str) -> dict[str, Any]:
    """The next frame, which must be of type `expected`."""
    frame: dict[str, Any] = ws.receive_json()
    assert frame["type"] == expected, frame
    return frame
