"""uvicorn's HTTP protocol with the bounds it lacks: a deadline and a size for a request's line
and headers, a deadline for its body, and caps on open connections. `serve` runs it."""

import asyncio
import contextlib
import logging
import resource
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus

import httptools
from uvicorn.middleware.proxy_headers import _TrustedHosts
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .log_filters import SparseLines
from .refusals import address_key
from .settings import RuntimeSettings

# A request line's URL, and a request's headers (names, values and line ends), in bytes:
# past either, 414 or 431 and the connection is closed. Browsers send a few KiB.
MAX_URL_BYTES = 16 * 1024
MAX_HEADER_BYTES = 32 * 1024
# What is fed to the parser before the headers are complete: both, and the method,
# version and line ends. The parser holds no more of a request's head than this.
_HEAD_BUDGET = MAX_URL_BYTES + MAX_HEADER_BYTES + 1024
# What is fed to the parser at once after the head: it holds no more of a trailer than
# this past MAX_HEADER_BYTES, however much one read brought.
_PIECE = 64 * 1024
# Seconds a refused connection stays open, unread, so that its client reads the refusal
# before the close (a close with unread input resets the connection, and the reply with it).
LINGER = 1.0
# Descriptors kept for what is not a client's connection: Redis, the database, log files.
FD_RESERVE = 64

logger = logging.getLogger(__name__)
# A line per refusal, a few a second at most: anyone can make refusals (as refusals.py).
_REFUSAL_LINES = SparseLines("HTTP refusals")
# The process is full: a WARNING, in lines of its own, so that refusals cannot crowd it out.
_FULL_LINES = SparseLines("connections refused")


@dataclass(frozen=True)
class EdgeLimits:
    """The settings the protocol reads: the app sets them in its process (`configure_edge`)."""

    body_timeout: float = 30.0
    max_connections: int = 11_000  # WS_MAX_CONNECTIONS + HTTP_MAX_CONNECTIONS
    max_http_connections: int = 1_000
    max_connections_per_address: int = 64
    # Proxies that speak for many clients: no per-address cap for them. Uvicorn's own
    # check (private, but the same from 0.52.1, our floor, to 0.55), so that the edge
    # exempts exactly the proxies whose X-Forwarded-For uvicorn believes.
    trusted: _TrustedHosts | None = None
    open_files: int = field(default_factory=lambda: resource.getrlimit(resource.RLIMIT_NOFILE)[0])

    @property
    def connection_cap(self) -> int:
        """WS_MAX_CONNECTIONS + HTTP_MAX_CONNECTIONS, or fewer where the process may not open
        that many files."""
        if self.open_files == resource.RLIM_INFINITY:
            return self.max_connections
        return max(1, min(self.max_connections, self.open_files - FD_RESERVE))

    def is_trusted(self, host: str) -> bool:
        """Whether `host` is a proxy in FORWARDED_ALLOW_IPS, compared as uvicorn compares it
        (`::ffff:127.0.0.1` is not `127.0.0.1`)."""
        return self.trusted is not None and host in self.trusted


_limits = EdgeLimits()
# Open connections while they speak HTTP, in all and per client address (address_key):
# a websocket leaves both counts when it is upgraded (its own caps then apply).
_open_per_address: dict[str, int] = {}
_open_http = 0


def configure_edge(settings: RuntimeSettings) -> None:
    """Apply the HTTP_* settings to the protocol in this process (build_app calls this)."""
    global _limits
    trusted = settings.forwarded_allow_ips if settings.proxy_headers else None
    _limits = EdgeLimits(
        body_timeout=settings.http_body_timeout,
        max_connections=settings.ws_max_connections + settings.http_max_connections,
        max_http_connections=settings.http_max_connections,
        max_connections_per_address=settings.http_max_connections_per_address,
        trusted=None if trusted is None else _TrustedHosts(trusted),
    )
    accept_errors = logging.getLogger("asyncio")
    if _ACCEPT_ERRORS not in accept_errors.filters:
        accept_errors.addFilter(_ACCEPT_ERRORS)


def raise_open_file_limit() -> None:
    """Let the process open as many files as the system allows it (the soft limit is often
    1,024): each connection is one. `serve` calls this before uvicorn starts."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        # If refused, kept as it was: the connection cap follows whichever holds.
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _log_refusal(address: str, answer: str, limit: str) -> None:
    """One line for a refusal a client caused, naming the limit and the address key."""
    line = f"HTTP refused {address} with {answer} ({limit})"
    if (admitted := _REFUSAL_LINES.admit(line)) is not None:
        logger.info("%s", admitted)


def _log_full(line: str) -> None:
    """A WARNING that the process takes no more connections."""
    if (admitted := _FULL_LINES.admit(line)) is not None:
        logger.warning("%s", admitted)


class _AcceptErrors(logging.Filter):
    """asyncio's report of an accept that failed for want of file descriptors (a traceback
    each second, under asyncio's loop; uvloop says nothing), said in sparse lines, without."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith("socket.accept() out of"):
            _log_full("Out of file descriptors: new connections cannot be accepted")
            return False
        return True


_ACCEPT_ERRORS = _AcceptErrors()


class _TooLarge(Exception):
    """Raised in a parser callback to stop parsing: the request is answered with `status`."""

    def __init__(self, status: HTTPStatus, limit: str) -> None:
        super().__init__(status)
        self.status = status
        self.limit = limit


class HttpEdge(HttpToolsProtocol):
    """uvicorn's httptools protocol, bounded before the app sees a request.

    - A request's headers must all arrive within uvicorn's `timeout_keep_alive` seconds of
      its start (or of its first byte, on a kept-alive connection), or it is closed.
    - A URL over MAX_URL_BYTES gets 414, headers over MAX_HEADER_BYTES 431, counted as they
      arrive: no more of them is read. So do the bytes after the headers that are not body
      (a chunked body's sizes and trailers): 431 past MAX_HEADER_BYTES of them.
    - A body must be in within HTTP_BODY_TIMEOUT seconds of its headers: 408 otherwise.
      A response sent before the body is all in says `connection: close`, and the connection
      is closed after it: the rest of the body is not read.
    - Past WS_MAX_CONNECTIONS + HTTP_MAX_CONNECTIONS open connections (fewer under a low
      open file limit), HTTP_MAX_CONNECTIONS speaking HTTP, or
      HTTP_MAX_CONNECTIONS_PER_ADDRESS from one address speaking HTTP, a new connection is
      closed at once.
    - Each refusal is one log line naming the limit and the client's address key, a few a
      second at most.
    - At shutdown a request still waiting for its body gets 503 at once, rather than being
      cancelled (with a traceback each) when the graceful shutdown runs out.
    """

    _head_deadline: asyncio.TimerHandle | None = None
    _body_deadline: asyncio.TimerHandle | None = None
    _linger: asyncio.TimerHandle | None = None
    _address: str | None = None
    _speaking_http = False
    _in_head = True
    _head_fed = 0
    _url_bytes = 0
    _header_bytes = 0
    _body_bytes = 0  # of the request being read, as the parser passed them on
    _framing = 0  # bytes of it past the headers that were not body
    _messages = 0  # requests read whole on this connection
    _keep_alive = False  # what the request asked for, granted once its body is in
    _shutting_down = False
    _refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self._admitted():
            self._head_deadline = self._later(self.config.timeout_keep_alive, self._too_slow)

    def _admitted(self) -> bool:
        global _open_http
        limits = _limits
        host = self.client[0] if self.client else None
        key = self._client_key()
        # uvicorn's own set: every open connection of this process, websockets included.
        if len(self.connections) > limits.connection_cap:
            _log_full(
                f"HTTP refused {key} with a close ({limits.connection_cap} open: "
                f"WS_MAX_CONNECTIONS + HTTP_MAX_CONNECTIONS, or the open file limit less "
                f"{FD_RESERVE})"
            )
            return self._close_at_once()
        if _open_http >= limits.max_http_connections:
            _log_full(f"HTTP refused {key} with a close ({_open_http} open: HTTP_MAX_CONNECTIONS)")
            return self._close_at_once()
        if host is not None and not limits.is_trusted(host):
            count = _open_per_address.get(key, 0)
            if count >= limits.max_connections_per_address:
                limit = f"{count} open: HTTP_MAX_CONNECTIONS_PER_ADDRESS"
                _log_refusal(key, "a close", limit)
                return self._close_at_once()
            _open_per_address[key] = count + 1
            self._address = key
        _open_http += 1
        self._speaking_http = True
        return True

    def _close_at_once(self) -> bool:
        self._refused = True
        self.transport.abort()
        return False

    def _client_key(self) -> str:
        return address_key(self.client[0]) if self.client else "an unknown address"

    def _release(self) -> None:
        """Leave the counts of connections speaking HTTP: closed, or now a websocket."""
        global _open_http
        if self._speaking_http:
            self._speaking_http = False
            _open_http -= 1
        key, self._address = self._address, None
        if key is not None:
            count = _open_per_address.pop(key, 1) - 1
            if count > 0:
                _open_per_address[key] = count

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop(self._head_deadline, self._body_deadline, self._linger)
        self._release()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # Fed in pieces, so that the parser never holds more of a request's head than
        # _HEAD_BUDGET, nor a trailer longer than _PIECE past MAX_HEADER_BYTES, however much
        # one read brought: it keeps a header's value, or a trailer's, until its line ends.
        while data and not self._refused:
            in_head, messages, body = self._in_head, self._messages, self._body_bytes
            room = _HEAD_BUDGET - self._head_fed if in_head else _PIECE
            piece, data = data[:room], data[room:]
            if in_head:
                self._head_fed += len(piece)
            self._feed(piece)
            if self._refused or self.transport.is_closing():
                return
            if not in_head and self._messages == messages:
                # All of this piece was past one request's headers: what of it was not body
                # is chunk sizes and trailers, which no cap on bodies counts.
                self._framing += len(piece) - (self._body_bytes - body)
                if self._framing > MAX_HEADER_BYTES:
                    too_large = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
                    self._refuse(too_large, "chunk sizes and trailers over 32 KiB")
                    return
            if self._in_head and self._head_fed >= _HEAD_BUDGET:
                # A URL over its own limit was refused in on_url: this is a header.
                self._refuse(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "headers over 32 KiB")
                return
            upgraded = self.transport.get_protocol()
            if upgraded is not self:
                if data:  # what followed the handshake is the websocket's
                    upgraded.data_received(data)  # type: ignore[attr-defined]
                return

    def _feed(self, data: bytes) -> None:
        # uvicorn's data_received, but for a head too large, which is refused.
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, _TooLarge):
                self._refuse(exc.__context__.status, exc.__context__.limit)
            else:
                self._bad_request()
        except httptools.HttpParserError:
            self._bad_request()
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()

    def _bad_request(self) -> None:
        _log_refusal(self._client_key(), "400", "invalid HTTP request")
        self.send_400_response("Invalid HTTP request received.")

    def handle_websocket_upgrade(self) -> None:
        # First: should the upgrade raise, connection_lost may go to the websocket's protocol.
        self._release()  # the websocket's own caps apply from here
        super().handle_websocket_upgrade()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._url_bytes = self._header_bytes = 0
        if self._head_deadline is None:
            self._head_deadline = self._later(self.config.timeout_keep_alive, self._too_slow)

    def on_url(self, url: bytes) -> None:
        self._url_bytes += len(url)
        if self._url_bytes > MAX_URL_BYTES:
            raise _TooLarge(HTTPStatus.REQUEST_URI_TOO_LONG, "URL over 16 KiB")
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4  # ": " and "\r\n"
        if self._header_bytes > MAX_HEADER_BYTES:
            too_large = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
            raise _TooLarge(too_large, "headers over 32 KiB")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._stop(self._head_deadline)
        self._head_deadline = None
        self._in_head = False
        self._body_bytes = self._framing = 0
        super().on_headers_complete()
        if not self.parser.should_upgrade():
            # Stopped when the message is complete: at once, for a request without a body.
            self._body_deadline = self._later(_limits.body_timeout, self._body_too_slow)
            # Kept alive only if the body is all in before the response starts (see
            # on_message_complete): otherwise it is closed after the response, unread.
            self._keep_alive, self.cycle.keep_alive = self.cycle.keep_alive, False

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._stop(self._body_deadline)
        self._body_deadline = None
        self._messages += 1
        cycle = self.cycle
        if cycle is not None and not cycle.response_started and not self._shutting_down:
            cycle.keep_alive = self._keep_alive
        super().on_message_complete()
        self._in_head, self._head_fed = True, 0

    def shutdown(self) -> None:
        self._shutting_down = True
        if self._body_deadline is not None and not self.cycle.response_started:
            self._refuse(HTTPStatus.SERVICE_UNAVAILABLE)  # still waiting for its body
            return
        super().shutdown()

    def _body_too_slow(self) -> None:
        self._body_deadline = None
        if self.cycle is not None and not self.cycle.response_started:
            self._refuse(HTTPStatus.REQUEST_TIMEOUT, "HTTP_BODY_TIMEOUT")
        elif not self.transport.is_closing():
            self.transport.close()

    def _too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def _refuse(self, status: HTTPStatus, limit: str | None = None) -> None:
        """Answer `status` in the app's stead, read nothing more, and close soon after;
        log it, naming `limit`, if a client's request passed one."""
        if limit is not None:
            _log_refusal(self._client_key(), str(status.value), limit)
        self._refused = True
        self._stop(self._head_deadline, self._body_deadline)
        self._head_deadline = self._body_deadline = None
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # The app's task, if one runs, reads a disconnect and its reply goes nowhere.
            cycle.disconnected = True
            cycle.message_event.set()
            if cycle.response_started:  # part of a reply is out: no other may follow it
                self.transport.close()
        self.flow.pause_reading()
        if self.transport.is_closing():
            return
        self.transport.write(self._response(status))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._linger = self._later(LINGER, self.transport.close)

    def _response(self, status: HTTPStatus) -> bytes:
        body = f"{status.phrase}\n".encode()
        lines = [f"HTTP/1.1 {status.value} {status.phrase}".encode()]
        lines += [name + b": " + value for name, value in self.server_state.default_headers]
        lines += [
            b"content-type: text/plain; charset=utf-8",
            b"content-length: " + str(len(body)).encode(),
            b"connection: close",
        ]
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    def _later(self, delay: float, callback: Callable[[], object]) -> asyncio.TimerHandle:
        return self.loop.call_later(delay, callback)

    @staticmethod
    def _stop(*timers: asyncio.TimerHandle | None) -> None:
        for timer in timers:
            if timer is not None:
                timer.cancel()
