"""Logging: the app's own lines beside uvicorn's, and tokens kept out of both."""

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import unquote_plus

from websockets.exceptions import InvalidState

from .ratelimit import TokenBucket

# One query parameter: its name, then its value up to the next `&`, space or quote.
# Possessive, and no `?` in a name: each character is scanned once, whatever the line.
_QUERY_PARAMETER = re.compile(r"([?&])([^=&?\s\"]*+)=([^&\s\"]*+)")
# Anything shaped like a JSON Web Token, wherever it stands: its header is
# base64url of `{"`, then two more base64url parts after a dot, or a dot
# percent-encoded (`%2E`). It starts after a character that cannot be in a
# token, or after any percent-escape (`Bearer%20`, `%3D`), never inside a run
# of base64url: so each run is scanned from its start only, and the search
# stays linear.
_DOT = r"(?:\.|%2[Ee])"
_JWT = re.compile(
    rf"(?:(?<![\w-])|(?<=%[0-9A-Fa-f]{{2}}))eyJ[\w-]{{4,}}+{_DOT}[\w-]{{4,}}+{_DOT}[\w-]*+",
    re.ASCII,
)
# A line is redacted up to this long; the rest is cut, not searched.
MAX_LINE = 16 * 1024
_SERVER_LOGGERS = ("uvicorn.error", "uvicorn.access")


def redact(text: str) -> str:
    """`text` with every JWT-shaped string, and the value of every `token` query parameter,
    replaced by `[redacted]`.

    Names are compared decoded, as the server reads them: `tok%65n` is `token`.
    By shape, tokens are found where no parameter name says so too:
    `?x=1;token=...`, `?x=1%26token=...`, `?token[]=...`, `?a=Bearer%20...`,
    dots written `%2E`; and in a parameter's value once decoded (`%65yJ...`).
    """
    if len(text) > MAX_LINE:
        text = text[:MAX_LINE] + " [cut]"
    if "eyJ" in text:
        text = _JWT.sub("[redacted]", text)
    if "=" not in text:
        return text
    return _QUERY_PARAMETER.sub(_redact_parameter, text)


def _redact_parameter(match: re.Match[str]) -> str:
    value = match[3]
    if unquote_plus(match[2]).strip().lower() == "token" or (
        "%" in value and _JWT.search(unquote_plus(value))
    ):
        return f"{match[1]}{match[2]}=[redacted]"
    return match[0]


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


class SparseLines:
    """A few lines a second at most (after a burst of as many), for what a client can make
    the server say as often as it likes; the next line let through says how many were
    left out."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._allowed = TokenBucket(FAULTS_PER_SECOND, FAULTS_BURST)
        self._left_out = 0

    def admit(self, line: str) -> str | None:
        """`line` as it is to be logged, or None if it is one too many."""
        if not self._allowed.allow():
            self._left_out += 1
            return None
        if self._left_out:
            line = f"{line} ({self._left_out} more {self._what} not logged)"
            self._left_out = 0
        return line


class ClientFaultsAreNotErrors(logging.Filter):
    """Log a client's protocol fault that the server handled as one INFO line, without a
    traceback, and a few a second at most: a flood of them must not flood the log."""

    def __init__(self) -> None:
        super().__init__()
        self._lines = SparseLines("client faults")

    def filter(self, record: logging.LogRecord) -> bool:
        transport_fault = _is_transport_fault(record)
        if not transport_fault and not (
            isinstance(record.msg, str) and record.msg.startswith(_CLIENT_FAULTS)
        ):
            return True
        dropped = "A client broke off mid-close; its connection was dropped"
        line = self._lines.admit(dropped if transport_fault else record.getMessage())
        if line is None:
            return False
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

# True while the runner answers a handshake it refuses (`refusing`).
_refusing: ContextVar[bool] = ContextVar("azu_ws_refusing", default=False)


@contextmanager
def refusing() -> Iterator[None]:
    """While the runner refuses a handshake: the server's own INFO lines about that socket
    (accepted, opened, its HTTP status) are left out; the runner's one line, rate-limited,
    says which limit refused which address."""
    token = _refusing.set(True)
    try:
        yield
    finally:
        _refusing.reset(token)


class QuietRefusals(logging.Filter):
    """Leave out the server's INFO lines logged while a handshake is refused (`refusing`):
    they are logged in the refusing task, so its context says which they are."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO or not _refusing.get()


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
    server = logging.getLogger("uvicorn.error")
    if not any(isinstance(existing, QuietRefusals) for existing in server.filters):
        server.addFilter(QuietRefusals())
