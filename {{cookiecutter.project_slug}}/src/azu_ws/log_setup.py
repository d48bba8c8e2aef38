"""How the server's lines are written: LOG_FORMAT (text, or one JSON object a line) at
LOG_LEVEL, with the user and path of the connection a line is about; tokens redacted."""

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from .redaction import RedactTokens, redact
from .settings import LogFormat, RuntimeSettings

# The scope of the request or socket whose task logs: read when a line is
# written, so a user the handshake authenticated later (scope["user"]) shows too.
_scope: ContextVar[Scope | None] = ContextVar("azu_ws_log_scope", default=None)
# Those who log little and matter much get LOG_LEVEL; everyone else, warnings.
_OTHERS_LEVEL = logging.WARNING
TEXT_FORMAT = "%(levelname)s:     %(name)s: %(message)s"


class LogContext:
    """Keep the scope of each request and socket for the lines logged while it runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        token = _scope.set(scope)
        try:
            await self.app(scope, receive, send)
        finally:
            _scope.reset(token)


def connection_fields() -> dict[str, str]:
    """The `user` (once authenticated) and `path` of the connection being served, if any."""
    scope = _scope.get()
    if scope is None:
        return {}
    fields = {"path": redact(str(scope.get("path", "")))}
    user = getattr(scope.get("user"), "id", None)
    if isinstance(user, str):
        fields["user"] = user
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message; user and path where known;
    the traceback, if any. Everything that comes from a client is redacted (see `redact`)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            **connection_fields(),
        }
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exception"] = redact(record.exc_text)
        return json.dumps(line, ensure_ascii=False, default=str)


def _utc(timestamp: float) -> str:
    """`2026-12-07T02:55:30.921Z`: RFC 3339, UTC, to the millisecond."""
    moment = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
    return moment.removesuffix("+00:00") + "Z"


def level_number(settings: RuntimeSettings) -> int:
    """LOG_LEVEL as a number (`trace` is uvicorn's 5)."""
    return (
        5
        if settings.log_level == "trace"
        else logging.getLevelNamesMapping()[settings.log_level.upper()]
    )


def _formatter(log_format: LogFormat, text: dict[str, Any]) -> dict[str, Any]:
    return {"()": JsonFormatter} if log_format == "json" else text


def uvicorn_log_config(settings: RuntimeSettings, package: str) -> dict[str, Any]:
    """uvicorn's `log_config` for `serve`: its lines and the app's (the runtime's and
    `package`'s at LOG_LEVEL, other libraries' from warnings up) in LOG_FORMAT."""
    level = level_number(settings)
    handler = {"class": "logging.StreamHandler", "filters": ["redact"]}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactTokens}},
        "formatters": {
            "default": _formatter(
                settings.log_format,
                {"()": "uvicorn.logging.DefaultFormatter", "fmt": "%(levelprefix)s %(message)s"},
            ),
            "access": _formatter(
                settings.log_format,
                {
                    "()": "uvicorn.logging.AccessFormatter",
                    "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
                },
            ),
            "app": _formatter(settings.log_format, {"format": TEXT_FORMAT}),
        },
        "handlers": {
            "default": {**handler, "formatter": "default", "stream": "ext://sys.stderr"},
            "access": {**handler, "formatter": "access", "stream": "ext://sys.stdout"},
            "app": {**handler, "formatter": "app", "stream": "ext://sys.stderr"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["access"], "level": level, "propagate": False},
            **{name: {"level": level} for name in dict.fromkeys(("azu_ws", package))},
        },
        "root": {"handlers": ["app"], "level": max(level, _OTHERS_LEVEL)},
    }


def log_app_events(settings: RuntimeSettings, package: str) -> None:
    """Show the lines (connects, disconnects) of the runtime and of the app `package` at
    LOG_LEVEL in LOG_FORMAT, and uvicorn's in it too, when nobody configured logging.

    uvicorn configures only its own loggers, so without this those lines would
    go nowhere. An application that sets up logging itself, as `serve` does, is
    left alone.
    """
    if logging.getLogger().handlers:
        return
    json_lines = settings.log_format == "json"
    if json_lines:  # plain `uvicorn`: its handlers write text
        for name in ("uvicorn", "uvicorn.access"):
            for existing in logging.getLogger(name).handlers:
                existing.setFormatter(JsonFormatter())
    for name in dict.fromkeys((__package__ or "azu_ws", package)):
        logger = logging.getLogger(name)
        if logger.handlers:
            continue
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
        handler.addFilter(RedactTokens())
        logger.addHandler(handler)
        logger.setLevel(level_number(settings))
