"""What `serve` serves by default: the app, its settings read at import (a bad one stops the
server with one line naming it, as does an unsafe plain `uvicorn` launch)."""

from azu_ws import UnsafeLaunch, check_launch
from fastapi import FastAPI

from .app import create_app
from .config import SettingsError, load_settings


def _app_or_exit() -> FastAPI:
    try:
        settings = load_settings()
        check_launch(settings, __package__ or __name__)
        return create_app(settings)
    except (SettingsError, UnsafeLaunch) as exc:
        raise SystemExit(f"{__package__}: {exc}") from None


app = _app_or_exit()
