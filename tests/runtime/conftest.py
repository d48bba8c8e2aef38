"""The runtime suites' fixtures, over the reference app's: its app has the probe mounted."""

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from azu_ws.testing import Connect, Server, uvicorn
from fastapi import FastAPI
from starlette.testclient import TestClient, WebSocketTestSession

from realtime_app.config import Settings

from ..conftest import TEST_SECRET, TokenFor
from .probe import PROBE, PROBE_APP, create_probe_app


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The app with the probe, served by uvicorn in a subprocess."""
    with uvicorn(tmp_path_factory.mktemp("server"), TEST_SECRET, command=PROBE_APP) as served:
        yield served


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_probe_app(settings)


@pytest.fixture
def connect(client: TestClient, token_for: TokenFor) -> Connect:
    """Open `path` (the probe, unless told) as `user`, with the token in a header."""

    def connect(
        path: str = PROBE, user: str = "alice", claims: dict[str, Any] | None = None
    ) -> AbstractContextManager[WebSocketTestSession]:
        headers = {"authorization": f"Bearer {token_for(user, **(claims or {}))}"}
        return client.websocket_connect(path, headers=headers)

    return connect
