"""Whether the server that loads the app left it safe: uvicorn started any other way than
`serve` keeps defaults the app cannot reach (README.md, "Run it")."""

import logging
import sys
from types import FrameType

import uvicorn
from uvicorn.config import HTTP_PROTOCOLS
from uvicorn.importer import ImportFromStringError, import_from_string

from .http_edge import HttpEdge
from .settings import RuntimeSettings

logger = logging.getLogger(__name__)

# What to pass uvicorn for the request bounds `serve` has: `--http` takes an import string.
EDGE_PROTOCOL = f"{HttpEdge.__module__}:{HttpEdge.__qualname__}"


class UnsafeLaunch(Exception):
    """Outside development, the server was started in a way that a client could abuse."""


def loading_config(frame: FrameType | None = None) -> uvicorn.Config | None:
    """The uvicorn configuration importing the app right now, if any.

    However uvicorn was started (the `uvicorn` command, `uvicorn.run("pkg.main:app")`,
    a `Server` of one's own, each worker of `--workers` or `--reload`), it imports the
    app inside `Config.load()`, so the configuration is on the call stack. An app object
    imported before uvicorn saw it (`uvicorn.run(app)`, other servers) leaves none.
    """
    frame = frame or sys._getframe(1)
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, uvicorn.Config):
            return candidate
        frame = frame.f_back
    return None


def missing_options(settings: RuntimeSettings, config: uvicorn.Config) -> list[str]:
    """The uvicorn options that would make this launch as safe as `serve`."""
    missing = []
    # httptools takes a request line and headers of any size; this protocol bounds
    # them, and how long they may take.
    protocol = http_protocol(config)
    if not (isinstance(protocol, type) and issubclass(protocol, HttpEdge)):
        missing.append(f"--http {EDGE_PROTOCOL}")
    # Compression lets a few kilobytes inflate to WS_MAX_MESSAGE_SIZE per frame,
    # and uvicorn reads up to 16 MiB of a frame before the app can refuse it.
    if config.ws_per_message_deflate and not settings.ws_per_message_deflate:
        missing.append("--ws-per-message-deflate false")
    if config.ws_max_size > settings.ws_max_message_size:
        missing.append(f"--ws-max-size {settings.ws_max_message_size}")
    # Without it, one client that stopped reading holds a shutdown open forever.
    if config.timeout_graceful_shutdown is None:
        missing.append(f"--timeout-graceful-shutdown {settings.shutdown_timeout}")
    return missing


def http_protocol(config: uvicorn.Config) -> object:
    """The HTTP protocol `config` serves with: `uvicorn.run` imports the app before it
    resolves `http` (a name or an import string), `Config.load` after."""
    protocol = getattr(config, "http_protocol_class", config.http)
    if not isinstance(protocol, str):
        return protocol
    try:
        return import_from_string(HTTP_PROTOCOLS.get(protocol, protocol))
    except ImportFromStringError:
        return None  # uvicorn stops on it by itself


def check_launch(
    settings: RuntimeSettings, package: str, config: uvicorn.Config | None = None
) -> None:
    """Refuse an unsafe uvicorn launch of the app `package` outside development
    (UnsafeLaunch); warn in it. `config`: the one loading the app, unless given."""
    config = config or loading_config(sys._getframe(1))
    missing = missing_options(settings, config) if config is not None else []
    if not missing:
        return
    advice = (
        f"uvicorn lacks {' '.join(missing)}: start with `python -m {package} serve`, "
        "which passes them from the settings, or add them"
    )
    if settings.environment == "development":
        logger.warning("%s (refused outside development)", advice)
        return
    raise UnsafeLaunch(advice)
