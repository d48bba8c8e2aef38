"""`build_app()`: a FastAPI app serving channels, with the runtime's routes and lifespan."""

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from starlette.routing import WebSocketRoute

from . import typescript
from .asyncapi import AsyncApiJson, check_unique_ids
from .channel import Channel
from .demo import mount_demo
from .gc_tuning import settle_for_many_sockets
from .http_edge import configure_edge
from .invalid_request import invalid_request
from .log_filters import install_server_log_filters
from .log_setup import LogContext, log_app_events
from .metrics import exposition, forget_this_process
from .request_limits import API_PREFIX, RequestLimits
from .runner import channel_endpoint
from .services import Services
from .settings import RuntimeSettings
from .wire import ExposeServer

logger = logging.getLogger(__name__)


def build_app(
    settings: RuntimeSettings,
    channels: Sequence[type[Channel[Any, Any]]],
    *,
    title: str,
    package: str,
    api_prefix: str = API_PREFIX,
) -> FastAPI:
    """The app: a route per channel, `/healthz`, `/metrics`, `/asyncapi.json`,
    `/messages.d.ts` and the demo page; the hub and broker are made in the lifespan,
    never at import. `package` is the app's: its loggers, and the demo page's hints.
    Requests under `api_prefix` need a bearer token before their body is read."""
    check_unique_ids(channels)  # or /asyncapi.json would fail on its first request
    configure_edge(settings)
    install_server_log_filters()
    log_app_events(settings, package)
    if settings.uses_placeholder_secret:
        logger.warning("JWT_SECRET is the public placeholder: anyone can sign tokens for this app")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = Services.create(settings)
        await services.start()
        app.state.services = services
        settle_for_many_sockets()
        try:
            async with AsyncExitStack() as stack:
                # What each channel makes for the app's lifetime, after the runtime's
                # resources and closed before them.
                for channel_class in channels:
                    await stack.enter_async_context(channel_class.lifespan(app, services))
                yield
        finally:
            await services.stop()
            forget_this_process()

    app = FastAPI(title=title, lifespan=lifespan)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.state.settings = settings

    @app.get("/healthz")
    async def healthz() -> dict[str, str | int]:
        """Up, with the counts that show a leak: open connections, topics with members here,
        asyncio tasks, and the topics and bytes of history kept in this process's memory."""
        hub = app.state.services.hub
        kept = hub.broker.history_kept()
        return {
            "status": "ok",
            "connections": len(hub.connections),
            "topics": hub.topic_count,
            "tasks": len(asyncio.all_tasks()),
            "history_topics": kept.topics,
            "history_bytes": kept.bytes,
        }

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        """Prometheus metrics: no user data, bounded labels; keep it off the public internet."""
        body, content_type = exposition()
        return Response(body, media_type=content_type)

    # Both are made once, at their first request: each costs milliseconds to build.
    asyncapi_json = AsyncApiJson(channels, title=title, version=app.version)
    typescript_text = functools.cache(lambda: typescript.typescript_types(channels, title=title))

    @app.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi(request: Request) -> Response:
        """The websockets' AsyncAPI 3.0 document, made from the channels' own unions."""
        secure = request.url.scheme in ("https", "wss")
        body = asyncapi_json.render(request.url.netloc, secure=secure)
        return Response(body, media_type="application/json")

    @app.get("/messages.d.ts", include_in_schema=False)
    async def message_types() -> PlainTextResponse:
        """TypeScript types of every message, made from the same models."""
        return PlainTextResponse(typescript_text(), media_type="application/typescript")

    # Each line logged while a request or socket runs knows its user and path.
    app.add_middleware(LogContext)
    # Sizes, tokens and rates checked before a route reads a body (request_limits.py).
    app.add_middleware(RequestLimits, settings=settings, api_prefix=api_prefix)
    app.add_middleware(ExposeServer)  # added last: outermost, it sees the server's `send`
    mount_demo(app, settings, package)
    for channel_class in channels:
        # Starlette's route, not FastAPI's: a channel takes no dependencies,
        # and FastAPI's per-socket exit stacks cost about 3 KB per connection.
        route = WebSocketRoute(channel_class.path, channel_endpoint(channel_class))
        app.router.routes.append(route)
    return app
