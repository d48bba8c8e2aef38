"""Fixtures: settings with a known secret, an app per test, signed-in sockets, the app served."""

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from azu_ws import Services
from azu_ws.testing import (
    Connect,
    Join,
    Server,
    create_token,
    joiner,
    serve_command,
    services_of,
    uvicorn,
)
from fastapi import FastAPI
from starlette.testclient import TestClient, WebSocketTestSession

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.config import Settings

# The test kit's fixtures: `redis_server` (a real one, on a free port) and `browser`.
pytest_plugins = ["azu_ws.testing.fixtures"]

TEST_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
# The browser tests' server, which the demo page mints its own tokens from.
BROWSER_SECRET = "a-secret-for-the-browser-tests-0123456789"
# The app through `python -m <package> serve`, as the README runs it in production.
SERVE = serve_command("{{ cookiecutter.package_name }}")
TokenFor = Callable[..., str]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The app served by uvicorn in a subprocess, for the end-to-end tests."""
    with uvicorn(tmp_path_factory.mktemp("server"), TEST_SECRET, command=SERVE) as served:
        yield served


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Server]:
    """The app as `serve` runs it, in development: the demo page gets its tokens itself."""
    with uvicorn(tmp_path, BROWSER_SECRET, command=SERVE, ENVIRONMENT="development") as server:
        yield server


@pytest.fixture(autouse=True)
def _no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests state their settings; a variable exported in the shell must not leak in.
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Test settings; `@pytest.mark.settings(name=value)` changes some for one test."""
    marker = request.node.get_closest_marker("settings")
    overrides = marker.kwargs if marker else {}
    values: dict[str, Any] = {
        "environment": "production",
        "jwt_secret": TEST_SECRET,
        "database_url": f"sqlite:///{tmp_path}/app.db",
        **overrides,
    }
    return Settings(_env_file=None, **values)


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    # One client for the whole test: its sockets share one event loop and the
    # lifespan (hub, broker) runs around them. From loopback, as a local browser.
    with TestClient(app, client=("127.0.0.1", 50000)) as client:
        yield client


@pytest.fixture
def token_for(settings: Settings) -> TokenFor:
    """A signed token for `user`, with any extra claims given as keywords."""

    def token_for(user: str, **claims: Any) -> str:
        return create_token(user, settings, extra_claims=claims)

    return token_for


@pytest.fixture
def connect(client: TestClient, token_for: TokenFor) -> Connect:
    """Open `path` as `user`, with the token in the Authorization header."""

    def connect(
        path: str, user: str = "alice", claims: dict[str, Any] | None = None
    ) -> AbstractContextManager[WebSocketTestSession]:
        headers = {"authorization": f"Bearer {token_for(user, **(claims or {}))}"}
        return client.websocket_connect(path, headers=headers)

    return connect


@pytest.fixture
def join(client: TestClient, token_for: TokenFor) -> Join:
    """A channel's socket as `user`: `with join(MyChannel, "alice") as alice:`, then
    `alice.send(...)` and `alice.expect(NewMessage)` in the channel's own models."""
    return joiner(client, token_for)


@pytest.fixture
def services(client: TestClient) -> Services:
    """The running app's runtime services: the hub above all."""
    return services_of(client)
