"""Fixtures: settings with a known secret, an app per test, and signed-in sockets."""

from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from azu_ws.auth import create_token
from azu_ws.services import Services
from fastapi import FastAPI
from starlette.testclient import TestClient, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from {{ cookiecutter.package_name }}.config import Settings

from .e2e import BROWSER_SECRET, SERVE_COMMAND, Server, uvicorn
from .probe import PROBE, create_probe_app
from .redis_server import RedisServer, running_redis

if TYPE_CHECKING:
    from playwright.sync_api import Browser

TEST_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"

Connect = Callable[..., AbstractContextManager[WebSocketTestSession]]
T = TypeVar("T")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The app served by uvicorn in a subprocess, for the end-to-end tests."""
    with uvicorn(tmp_path_factory.mktemp("server"), TEST_SECRET) as served:
        yield served


@pytest.fixture(scope="module")
def browser() -> Iterator["Browser"]:
    # One module at a time: Playwright's sync API holds an event loop in this
    # thread while it runs, and the other tests need theirs (asyncio.run).
    # Imported here: only the browser tests need Playwright (the `browser` group).
    from .browser import launched_chromium

    with launched_chromium() as launched:
        yield launched


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Server]:
    """The app as `serve` runs it, in development: the demo page gets its tokens itself."""
    with uvicorn(
        tmp_path, BROWSER_SECRET, command=SERVE_COMMAND, ENVIRONMENT="development"
    ) as server:
        yield server


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server of the test's own (skips without one, fails so under CI=true)."""
    with running_redis(tmp_path) as server:
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
    return create_probe_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    # One client for the whole test: its sockets share one event loop and the
    # lifespan (hub, broker) runs around them. From loopback, as a local browser.
    with TestClient(app, client=("127.0.0.1", 50000)) as client:
        yield client


TokenFor = Callable[..., str]


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
        path: str = PROBE, user: str = "alice", claims: dict[str, Any] | None = None
    ) -> AbstractContextManager[WebSocketTestSession]:
        headers = {"authorization": f"Bearer {token_for(user, **(claims or {}))}"}
        return client.websocket_connect(path, headers=headers)

    return connect


@pytest.fixture
def services(client: TestClient) -> Services:
    """The running app's services: the hub, the notifier, the update publisher."""
    running: Services = client.app.state.services  # type: ignore[attr-defined]
    return running


def call(client: TestClient, function: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run a coroutine function on the app's event loop, as application code would."""
    assert client.portal is not None
    result: T = client.portal.call(function, *args)
    return result


def closed_with(ws: WebSocketTestSession) -> tuple[int, str]:
    """Read until the server closes; the close code and reason."""
    try:
        while True:
            ws.receive_json()
    except WebSocketDisconnect as closed:
        return closed.code, closed.reason


def receive_type(ws: WebSocketTestSession, expected: str) -> dict[str, Any]:
    """The next frame, which must be of type `expected`."""
    frame: dict[str, Any] = ws.receive_json()
    assert frame["type"] == expected, frame
    return frame
