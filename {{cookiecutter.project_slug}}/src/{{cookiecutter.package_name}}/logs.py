"""Logging: the app's own lines beside uvicorn's, and tokens kept out of both."""

import logging
import re
from urllib.parse import unquote_plus

# One query parameter: its name, then its value up to the next `&`, space or quote.
_QUERY_PARAMETER = re.compile(r"([?&])([^=&\s\"]*)=([^&\s\"]*)")
_SERVER_LOGGERS = ("uvicorn.error", "uvicorn.access")


def redact(text: str) -> str:
    """`text` with the value of every `token` query parameter replaced by `[redacted]`.

    Names are compared decoded, as the server reads them: `tok%65n` is `token`.
    """
    if "=" not in text:
        return text
    return _QUERY_PARAMETER.sub(_redact_parameter, text)


def _redact_parameter(match: re.Match[str]) -> str:
    if unquote_plus(match[2]).strip().lower() != "token":
        return match[0]
    return f"{match[1]}{match[2]}=[redacted]"


class RedactTokens(logging.Filter):
    """Redact tokens from a record's message and arguments (see `redact`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


# What uvicorn logs as an error with a traceback, though the client caused it
# and uvicorn handled it (closed with 1007): noise that buries real errors.
_CLIENT_FAULTS = ("Invalid UTF-8 sequence received from client",)


class ClientFaultsAreNotErrors(logging.Filter):
    """Log a client's protocol fault that the server handled as INFO, without a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith(_CLIENT_FAULTS):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info, record.exc_text = None, None
        return True


def redact_tokens_in_server_logs() -> None:
    """Install the filters on uvicorn's loggers, once."""
    for name in _SERVER_LOGGERS:
        logger = logging.getLogger(name)
        for kind in (RedactTokens, ClientFaultsAreNotErrors):
            if not any(isinstance(existing, kind) for existing in logger.filters):
                logger.addFilter(kind())


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
