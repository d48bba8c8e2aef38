"""The app a TestClient runs, typed: its `app.state`, and the runtime's services on it."""

from starlette.applications import Starlette
from starlette.testclient import TestClient

from ..services import Services
from ..state import state_of


def app_of(client: TestClient) -> Starlette:
    """The client's app (a TestClient holds any ASGI app): for `state_of(app_of(client), ...)`."""
    app = client.app
    if not isinstance(app, Starlette):
        raise TypeError(f"the client runs a {type(app).__name__}, not a FastAPI or Starlette app")
    return app


def services_of(client: TestClient) -> Services:
    """The running app's runtime services (the hub above all); the client must be started
    (`with TestClient(app) as client`), since the lifespan makes them."""
    return state_of(app_of(client), "services", Services)
