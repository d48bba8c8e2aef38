"""`create_app()`: the application, its channels as routes, its resources in a lifespan."""

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Response
from starlette.routing import WebSocketRoute

from .api import ROUTERS
from .channels import CHANNELS
from .config import Settings, load_settings
from .core.channel import Channel
from .core.collector import settle_for_many_sockets
from .core.runner import channel_endpoint
from .core.transport import TransportHandle
from .logs import log_app_events, redact_tokens_in_server_logs
from .metrics import exposition, forget_this_process
from .services import Services

logger = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None, channels: Sequence[type[Channel[Any]]] = CHANNELS
) -> FastAPI:
    """Build the app; the hub and broker are made in the lifespan, never at import."""
    settings = settings or load_settings()
    redact_tokens_in_server_logs()
    log_app_events(__package__ or __name__)
    if settings.uses_placeholder_secret:
        logger.warning("JWT_SECRET is the public placeholder: anyone can sign tokens for this app")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = Services.create(settings)
        await services.start()
        app.state.services = services
        settle_for_many_sockets()
        try:
            yield
        finally:
            await services.stop()
            forget_this_process()

    app = FastAPI(title="{{ cookiecutter.project_name }}", lifespan=lifespan)
    app.state.settings = settings

    @app.get("/healthz")
    async def healthz() -> dict[str, str | int]:
        """Up, with the counts that show a leak: open connections, topics, asyncio tasks."""
        hub = app.state.services.hub
        return {
            "status": "ok",
            "connections": len(hub.connections),
            "topics": hub.topic_count,
            "tasks": len(asyncio.all_tasks()),
        }

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        """Prometheus metrics: no user data, bounded labels; keep it off the public internet."""
        body, content_type = exposition()
        return Response(body, media_type=content_type)

    app.add_middleware(TransportHandle)
    for router in ROUTERS:
        app.include_router(router)
    for channel_class in channels:
        # Starlette's route, not FastAPI's: a channel takes no dependencies,
        # and FastAPI's per-socket exit stacks cost about 3 KB per connection.
        route = WebSocketRoute(channel_class.path, channel_endpoint(channel_class))
        app.router.routes.append(route)
    return app
