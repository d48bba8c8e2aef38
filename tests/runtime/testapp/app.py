"""`create_app()`: the test app's channels and routes on the azu_ws runtime."""

from collections.abc import Sequence
from typing import Any

from azu_ws import Channel, build_app
from fastapi import FastAPI

from .api import API_PREFIX, router
from .channels import CHANNELS, ProbeChannel
from .config import Settings, load_settings

TITLE = "Test App"


def create_app(
    settings: Settings | None = None, channels: Sequence[type[Channel[Any, Any]]] = CHANNELS
) -> FastAPI:
    """Build the app; what its channels need is made in the lifespan, never at import."""
    settings = settings or load_settings()
    package = __package__ or __name__
    app = build_app(settings, channels, title=TITLE, package=package, api_prefix=API_PREFIX)
    app.include_router(router)
    return app


def create_probe_only_app(settings: Settings | None = None) -> FastAPI:
    """The app with one channel, the probe: what a page shows when an app has no other."""
    return create_app(settings, channels=[ProbeChannel])
