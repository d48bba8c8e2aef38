"""The entry point uvicorn serves: `uvicorn {{ cookiecutter.package_name }}.main:app`.

Settings are read here, at import, so that a missing or bad one stops the
server with one line naming it, as does a plain `uvicorn` launch that lacks
the options `serve` passes (outside development). Tests build their own app
with `create_app`.
"""

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
        # One readable line instead of a traceback; under --reload, uvicorn
        # then waits for the fix.
        raise SystemExit(f"{__package__}: {exc}") from None


app = _app_or_exit()
