"""The runtime suites' fixtures, on their own test app (`testapp/`): settings with a known
secret, an app per test, signed-in sockets, the app served by uvicorn, and the test kit's
(`redis_server`, `browser`), so that nothing comes from the bake's own conftest."""

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from azu_ws.auth import create_token
from azu_ws.services import Services
from azu_ws.testing import Connect, Server, uvicorn
from azu_ws.testing.fixtures import browser as browser
from azu_ws.testing.fixtures import redis_server as redis_server
from fastapi import FastAPI
from starlette.testclient import TestClient, WebSocketTestSession

from .bench import SERVE, TEST_SECRET, TokenFor
from .testapp.app import create_app
from .testapp.channels import PROBE
from .testapp.config import Settings


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The test app served by uvicorn in a subprocess."""
    with uvicorn(tmp_path_factory.mktemp("server"), TEST_SECRET, command=SERVE) as served:
        yield served


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
    """Open `path` (the probe, unless told) as `user`, with the token in a header."""

    def connect(
        path: str = PROBE, user: str = "alice", claims: dict[str, Any] | None = None
    ) -> AbstractContextManager[WebSocketTestSession]:
        headers = {"authorization": f"Bearer {token_for(user, **(claims or {}))}"}
        return client.websocket_connect(path, headers=headers)

    return connect


@pytest.fixture
def services(client: TestClient) -> Services:
    """The running app's runtime services: the hub above all."""
    running: Services = client.app.state.services  # type: ignore[attr-defined]
    return running
