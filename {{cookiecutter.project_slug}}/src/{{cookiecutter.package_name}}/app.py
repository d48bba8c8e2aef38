"""`create_app()`: the application, its channels as routes, its resources in a lifespan."""

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from .channels import CHANNELS
from .config import Settings, load_settings
from .core.broker import broker_from_url
from .core.channel import Channel
from .core.hub import Hub
from .core.runner import channel_endpoint
from .logs import log_app_events, redact_tokens_in_server_logs


def create_app(
    settings: Settings | None = None, channels: Sequence[type[Channel[Any]]] = CHANNELS
) -> FastAPI:
    """Build the app; the hub and broker are made in the lifespan, never at import."""
    settings = settings or load_settings()
    redact_tokens_in_server_logs()
    log_app_events(__package__ or __name__)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub = Hub(broker_from_url(settings.broker_url), send_queue_size=settings.ws_send_queue_size)
        await hub.start()
        app.state.hub = hub
        try:
            yield
        finally:
            await hub.stop()

    app = FastAPI(title="{{ cookiecutter.project_name }}", lifespan=lifespan)
    app.state.settings = settings

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    for channel_class in channels:
        app.add_api_websocket_route(channel_class.path, channel_endpoint(channel_class))
    return app
