"""What a client can make the server log, kept readable: its protocol faults one INFO line
each, a few a second at most; refused handshakes one line of the runner's; and every line
of uvicorn's with its tokens redacted (`install_server_log_filters`)."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from websockets.exceptions import InvalidState

from .ratelimit import TokenBucket
from .redaction import RedactTokens

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


def install_server_log_filters() -> None:
    """Install the filters on uvicorn's loggers (and asyncio's, for client faults), once:
    tokens redacted, client faults below ERROR and sparse, refusals quiet."""
    for name in ("uvicorn.error", "uvicorn.access"):
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
