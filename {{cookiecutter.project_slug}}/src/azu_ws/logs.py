"""Logging: the app's own lines beside uvicorn's, and tokens kept out of both."""

import logging
import re
from urllib.parse import unquote_plus

from websockets.exceptions import InvalidState

from .ratelimit import TokenBucket

# One query parameter: its name, then its value up to the next `&`, space or quote.
# Possessive, and no `?` in a name: each character is scanned once, whatever the line.
_QUERY_PARAMETER = re.compile(r"([?&])([^=&?\s\"]*+)=([^&\s\"]*+)")
# Anything shaped like a JSON Web Token, wherever it stands: its header is
# base64url of `{"`, then two more dot-separated base64url parts.
_JWT = re.compile(r"(?<![\w-])eyJ[\w-]{4,}+\.[\w-]{4,}+\.[\w-]*+")
# A line is redacted up to this long; the rest is cut, not searched.
MAX_LINE = 16 * 1024
_SERVER_LOGGERS = ("uvicorn.error", "uvicorn.access")


def redact(text: str) -> str:
    """`text` with every JWT-shaped string, and the value of every `token` query parameter,
    replaced by `[redacted]`.

    Names are compared decoded, as the server reads them: `tok%65n` is `token`.
    By shape, tokens are found where no parameter name says so too:
    `?x=1;token=...`, `?x=1%26token=...`, `?token[]=...`.
    """
    if len(text) > MAX_LINE:
        text = text[:MAX_LINE] + " [cut]"
    if "eyJ" in text:
        text = _JWT.sub("[redacted]", text)
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
# What asyncio logs, with ~30 lines of traceback, when a client's bad frame and
# its close arrive together and uvicorn then tries to close a closing socket.
_TRANSPORT_FAULT = "Fatal error on transport"
# Client faults logged at most this many a second (after a burst of as many);
# the next line says how many were left out.
FAULTS_PER_SECOND = 1.0
FAULTS_BURST = 5


class ClientFaultsAreNotErrors(logging.Filter):
    """Log a client's protocol fault that the server handled as one INFO line, without a
    traceback, and a few a second at most: a flood of them must not flood the log."""

    def __init__(self) -> None:
        super().__init__()
        self._allowed = TokenBucket(FAULTS_PER_SECOND, FAULTS_BURST)
        self._left_out = 0

    def filter(self, record: logging.LogRecord) -> bool:
        transport_fault = _is_transport_fault(record)
        if not transport_fault and not (
            isinstance(record.msg, str) and record.msg.startswith(_CLIENT_FAULTS)
        ):
            return True
        if not self._allowed.allow():
            self._left_out += 1
            return False
        line = "A client broke off mid-close; its connection was dropped"
        line = line if transport_fault else record.getMessage()
        if self._left_out:
            line = f"{line} ({self._left_out} more client faults not logged)"
            self._left_out = 0
        if transport_fault:
            # asyncio's records go to no handler of ours: said through uvicorn's.
            logging.getLogger("uvicorn.error").info(line)
            return False
        record.msg, record.args = line, ()
        record.levelno, record.levelname = logging.INFO, "INFO"
        record.exc_info, record.exc_text = None, None
        return True


def _is_transport_fault(record: logging.LogRecord) -> bool:
    """asyncio's report of uvicorn closing a socket the client was already closing."""
    if record.name != "asyncio" or not isinstance(record.msg, str):
        return False
    error = record.exc_info[1] if record.exc_info else None
    return record.msg.startswith(_TRANSPORT_FAULT) and isinstance(error, InvalidState)


_CLIENT_FAULT_FILTER = ClientFaultsAreNotErrors()


def redact_tokens_in_server_logs() -> None:
    """Install the filters on uvicorn's loggers (and asyncio's, for client faults), once."""
    for name in _SERVER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactTokens) for existing in logger.filters):
            logger.addFilter(RedactTokens())
    for name in ("uvicorn.error", "asyncio"):
        logger = logging.getLogger(name)
        if _CLIENT_FAULT_FILTER not in logger.filters:
            logger.addFilter(_CLIENT_FAULT_FILTER)
