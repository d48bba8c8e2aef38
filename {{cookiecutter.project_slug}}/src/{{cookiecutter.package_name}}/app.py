"""`create_app()`: this app's channels and HTTP routes on the azu_ws runtime."""

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from azu_ws import Channel, Notifier, Services, build_app, open_store
from fastapi import FastAPI

from .api import ROUTERS
from .channels import CHANNELS
from .config import Settings, load_settings
from .updates import UpdatePublisher

TITLE = "{{ cookiecutter.project_name }}"


def create_app(
    settings: Settings | None = None, channels: Sequence[type[Channel[Any, Any]]] = CHANNELS
) -> FastAPI:
    """Build the app; its resources are made in the lifespan, never at import."""
    settings = settings or load_settings()

    @asynccontextmanager
    async def resources(app: FastAPI, services: Services) -> AsyncIterator[None]:
        # Hung on app.state: channels reach them as `self.state`, routes as deps.
        store = open_store(
            settings.database_url,
            max_pending=settings.notification_max_pending,
            ttl_seconds=settings.notification_ttl,
        )
        app.state.notifier = Notifier(store, services.hub)
        app.state.updates = UpdatePublisher(services.hub)
        try:
            yield
        finally:
            await store.close()

    app = build_app(
        settings, channels, title=TITLE, package=__package__ or __name__, resources=resources
    )
    for router in ROUTERS:
        app.include_router(router)
    return app
