"""azu_ws: typed WebSocket channels on FastAPI. An app imports what is named here and nothing
else; the package imports nothing from the app, so it is published as it stands: `azu-ws`.

A bake carries it as a folder, `src/azu_ws/`. To depend on the library instead:

- delete `src/azu_ws/`;
- in `pyproject.toml`, add `"azu-ws==<the __version__ below>"` to `dependencies` (the
  runtime's own dependencies come with it: keep those the app imports itself), take
  `"src/azu_ws"` out of `packages` under `[tool.hatch.build.targets.wheel]`, add
  `"azu-ws[testing]"` to the `dev` group and `"azu-ws[browser]"` to `browser`, and drop the
  `[tool.deptry]` line that calls `azu_ws` first-party;
- `uv lock && uv sync && uv run pytest`.

The wheel comes from the index it is published to, or from the template's
`python3 scripts/dev.py wheel` (named by path under `[tool.uv.sources]`). Its extras carry
the test kit's needs, `azu_ws.testing`: `testing` pytest, pytest-timeout and httpx2 (the
TestClient's), `browser` Playwright; a production install has neither.
"""

from . import close_codes
from .app import build_app
from .auth import MAX_USER_ID_LENGTH, AuthenticationError, User, VerifierFailed, verify_token
from .backends import SQLITE_PREFIX, open_store
from .bearer import require_scope
from .channel import Channel
from .cli import main as run_cli
from .errors import ClientError, ErrorCodes
from .frames import Frame, Position
from .hub import Hub
from .launch import UnsafeLaunch, check_launch
from .messages import (
    ClientMessage,
    Connected,
    ErrorMessage,
    Greeting,
    Ping,
    Pong,
    Published,
    ServerMessage,
    Since,
    is_none,
    utc_now,
)
from .notifications import (
    SYSTEM_NOTIFICATIONS,
    Notification,
    NotificationMessage,
    NotificationStore,
    Notifier,
    StoreUnavailable,
    notifications_topic,
)
from .services import Services
from .settings import PLACEHOLDER_SECRET, RuntimeSettings, SettingsError, load_settings
from .state import MissingState, app_state, state_of
from .utf8 import utf8_json

__version__ = "0.5.0"

__all__ = [
    "MAX_USER_ID_LENGTH",
    "PLACEHOLDER_SECRET",
    "SQLITE_PREFIX",
    "SYSTEM_NOTIFICATIONS",
    "AuthenticationError",
    "Channel",
    "ClientError",
    "ClientMessage",
    "Connected",
    "ErrorCodes",
    "ErrorMessage",
    "Frame",
    "Greeting",
    "Hub",
    "MissingState",
    "Notification",
    "NotificationMessage",
    "NotificationStore",
    "Notifier",
    "Ping",
    "Pong",
    "Position",
    "Published",
    "RuntimeSettings",
    "ServerMessage",
    "Services",
    "SettingsError",
    "Since",
    "StoreUnavailable",
    "UnsafeLaunch",
    "User",
    "VerifierFailed",
    "__version__",
    "app_state",
    "build_app",
    "check_launch",
    "close_codes",
    "is_none",
    "load_settings",
    "notifications_topic",
    "open_store",
    "require_scope",
    "run_cli",
    "state_of",
    "utc_now",
    "utf8_json",
    "verify_token",
]
