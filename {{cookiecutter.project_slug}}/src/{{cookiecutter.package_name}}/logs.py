"""Logging: the app's own lines beside uvicorn's, and tokens kept out of both."""

import logging
import re

_TOKEN_IN_QUERY = re.compile(r"([?&]token=)[^&\s\"]*")
_SERVER_LOGGERS = ("uvicorn.error", "uvicorn.access")


class RedactTokens(logging.Filter):
    """Replace the value of any `token=` query parameter in a record with `[redacted]`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN_IN_QUERY.sub(r"\1[redacted]", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        if isinstance(record.msg, str) and "token=" in record.msg:
            record.msg = _TOKEN_IN_QUERY.sub(r"\1[redacted]", record.msg)
        return True


def redact_tokens_in_server_logs() -> None:
    """Install the filter on uvicorn's loggers, once."""
    for name in _SERVER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactTokens) for existing in logger.filters):
            logger.addFilter(RedactTokens())


def log_app_events(package: str) -> None:
    """Show the app's INFO lines (connects, disconnects) when nobody configured logging.

    uvicorn configures only its own loggers, so without this the app's lines
    would go nowhere. An application that sets up logging itself is left alone.
    """
    logger = logging.getLogger(package)
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
    handler.addFilter(RedactTokens())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
