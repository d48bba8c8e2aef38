"""Whether the command that started the server left it safe: plain `uvicorn` keeps uvicorn's
defaults where the app cannot reach (README.md, "Run it")."""

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvicorn

from .settings import RuntimeSettings

logger = logging.getLogger(__name__)


class UnsafeLaunch(Exception):
    """Outside development, the server was started in a way that a client could abuse."""


def uvicorn_options(argv: Sequence[str]) -> dict[str, Any] | None:
    """uvicorn's options (the command line, then UVICORN_* variables), if the `uvicorn`
    command started this process; None for `serve` and anything else."""
    program = Path(argv[0]) if argv else Path()
    if program.name != "uvicorn" and program.parts[-2:] != ("uvicorn", "__main__.py"):
        return None
    context = uvicorn.main.make_context("uvicorn", list(argv[1:]), resilient_parsing=True)
    return dict(context.params)


def missing_options(settings: RuntimeSettings, options: dict[str, Any]) -> list[str]:
    """The uvicorn options that would make this launch as safe as `serve`."""
    missing = []
    # Compression lets a few kilobytes inflate to WS_MAX_MESSAGE_SIZE per frame,
    # and uvicorn reads up to 16 MiB of a frame before the app can refuse it.
    if options.get("ws_per_message_deflate") and not settings.ws_per_message_deflate:
        missing.append("--ws-per-message-deflate false")
    if (options.get("ws_max_size") or 0) > settings.ws_max_message_size:
        missing.append(f"--ws-max-size {settings.ws_max_message_size}")
    # Without it, one client that stopped reading holds a shutdown open forever.
    if options.get("timeout_graceful_shutdown") is None:
        missing.append(f"--timeout-graceful-shutdown {settings.shutdown_timeout}")
    return missing


def check_launch(
    settings: RuntimeSettings, package: str, argv: Sequence[str] | None = None
) -> None:
    """Refuse an unsafe plain-uvicorn launch of the app `package` outside development
    (UnsafeLaunch); warn in it."""
    options = uvicorn_options(sys.argv if argv is None else argv)
    missing = missing_options(settings, options) if options is not None else []
    if not missing:
        return
    advice = (
        f"plain uvicorn lacks {' '.join(missing)}: start with `python -m {package} serve`, "
        "which passes them from the settings, or add them"
    )
    if settings.environment == "development":
        logger.warning("%s (refused outside development)", advice)
        return
    raise UnsafeLaunch(advice)
