"""uvicorn's HTTP protocol with the bounds it lacks: a deadline and a size for a request's line
and headers, a deadline for its body, and caps on open connections. `serve` runs it."""

import asyncio
import contextlib
import ipaddress
import logging
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .refusals import address_key
from .settings import RuntimeSettings

# A request line's URL, and a request's headers (names, values and line ends), in bytes:
# past either, 414 or 431 and the connection is closed. Browsers send a few KiB.
MAX_URL_BYTES = 16 * 1024
MAX_HEADER_BYTES = 32 * 1024
# What is fed to the parser before the headers are complete: both, and the method,
# version and line ends. The parser holds no more of a request's head than this.
_HEAD_BUDGET = MAX_URL_BYTES + MAX_HEADER_BYTES + 1024
# Seconds a refused connection stays open, unread, so that its client reads the refusal
# before the close (a close with unread input resets the connection, and the reply with it).
LINGER = 1.0
# Descriptors kept for what is not a client's connection: Redis, the database, log files.
FD_RESERVE = 64
# Seconds between two warnings of one kind (connections refused, descriptors run out).
WARN_INTERVAL = 10.0

logger = logging.getLogger("uvicorn.error")


@dataclass(frozen=True)
class EdgeLimits:
    """The settings the protocol reads: the app sets them in its process (`configure_edge`)."""

    body_timeout: float = 30.0
    max_connections: int = 11_000  # WS_MAX_CONNECTIONS + HTTP_MAX_CONNECTIONS
    max_connections_per_address: int = 64
    # Proxies that speak for many clients: no per-address cap for them (`*`: none at all).
    trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    trust_all: bool = False
    open_files: int = field(default_factory=lambda: resource.getrlimit(resource.RLIMIT_NOFILE)[0])

    @property
    def connection_cap(self) -> int:
        """WS_MAX_CONNECTIONS + HTTP_MAX_CONNECTIONS, or fewer where the process may not open
        that many files."""
        if self.open_files == resource.RLIM_INFINITY:
            return self.max_connections
        return max(1, min(self.max_connections, self.open_files - FD_RESERVE))

    def is_trusted(self, host: str) -> bool:
        if self.trust_all:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # a dual-stack socket's IPv4 client
        return any(address in network for network in self.trusted)


_limits = EdgeLimits()
# Open connections per client address (address_key) while they speak HTTP: a websocket
# leaves this count when it is upgraded (its own caps then apply).
_open_per_address: dict[str, int] = {}


def configure_edge(settings: RuntimeSettings) -> None:
    """Apply the HTTP_* settings to the protocol in this process (build_app calls this)."""
    global _limits
    trusted: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    entries = [entry.strip() for entry in settings.forwarded_allow_ips.split(",")]
    for entry in entries if settings.proxy_headers else []:
        try:
            trusted.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue  # `*` (below), or a unix socket's name: no address to compare
    _limits = EdgeLimits(
        body_timeout=settings.http_body_timeout,
        max_connections=settings.ws_max_connections + settings.http_max_connections,
        max_connections_per_address=settings.http_max_connections_per_address,
        trusted=tuple(trusted),
        trust_all=settings.proxy_headers and "*" in entries,
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


class _EveryInterval:
    """One WARNING line per interval for a condition that recurs, counting the rest."""

    def __init__(self, interval: float = WARN_INTERVAL) -> None:
        self.interval = interval
        self._next = 0.0
        self._left_out = 0

    def warn(self, message: str) -> None:
        now = time.monotonic()
        if now < self._next:
            self._left_out += 1
            return
        if self._left_out:
            message = f"{message} ({self._left_out} more in the last {self.interval:g} s)"
        self._next, self._left_out = now + self.interval, 0
        logger.warning(message)


_refusals = _EveryInterval()
_out_of_files = _EveryInterval()


class _AcceptErrors(logging.Filter):
    """asyncio's report of an accept that failed for want of file descriptors (a traceback
    each second, under the asyncio loop), said once per interval, without one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith("socket.accept() out of"):
            _out_of_files.warn("Out of file descriptors: new connections cannot be accepted")
            return False
        return True


_ACCEPT_ERRORS = _AcceptErrors()


class _TooLarge(Exception):
    """Raised in a parser callback to stop parsing: the request is answered with `status`."""

    def __init__(self, status: HTTPStatus) -> None:
        super().__init__(status)
        self.status = status


class HttpEdge(HttpToolsProtocol):
    """uvicorn's httptools protocol, bounded before the app sees a request.

    - A request's headers must all arrive within uvicorn's `timeout_keep_alive` seconds of
      its start (or of its first byte, on a kept-alive connection), or it is closed.
    - A URL over MAX_URL_BYTES gets 414, headers over MAX_HEADER_BYTES 431, counted as they
      arrive: no more of them is read.
    - A body must be in within HTTP_BODY_TIMEOUT seconds of its headers: 408 otherwise.
    - Past WS_MAX_CONNECTIONS + HTTP_MAX_CONNECTIONS open connections (fewer under a low
      open file limit), or HTTP_MAX_CONNECTIONS_PER_ADDRESS from one address speaking HTTP,
      a new connection is closed at once; a warning says so every 10 s at most.
    - At shutdown a request still waiting for its body gets 503 at once, rather than being
      cancelled (with a traceback each) when the graceful shutdown runs out.
    """

    _head_deadline: asyncio.TimerHandle | None = None
    _body_deadline: asyncio.TimerHandle | None = None
    _linger: asyncio.TimerHandle | None = None
    _address: str | None = None
    _in_head = True
    _head_fed = 0
    _url_bytes = 0
    _header_bytes = 0
    _refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self._admitted():
            self._head_deadline = self._later(self.config.timeout_keep_alive, self._too_slow)

    def _admitted(self) -> bool:
        limits = _limits
        # uvicorn's own set: every open connection of this process, websockets included.
        if len(self.connections) > limits.connection_cap:
            _refusals.warn(
                f"Refused a connection: {limits.connection_cap} are open (WS_MAX_CONNECTIONS "
                "+ HTTP_MAX_CONNECTIONS, or the open file limit)"
            )
            self._refused = True
            self.transport.abort()
            return False
        host = self.client[0] if self.client else None
        if host is None or limits.is_trusted(host):
            return True
        key = address_key(host)
        count = _open_per_address.get(key, 0)
        if count >= limits.max_connections_per_address:
            _refusals.warn(
                f"Refused a connection from {key}: it has {count} open "
                "(HTTP_MAX_CONNECTIONS_PER_ADDRESS)"
            )
            self._refused = True
            self.transport.abort()
            return False
        _open_per_address[key] = count + 1
        self._address = key
        return True

    def _release_address(self) -> None:
        key, self._address = self._address, None
        if key is not None:
            count = _open_per_address.pop(key, 1) - 1
            if count > 0:
                _open_per_address[key] = count

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop(self._head_deadline, self._body_deadline, self._linger)
        self._release_address()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # Fed in pieces while a request's head is incomplete, so that the parser never
        # holds more of it than _HEAD_BUDGET, however much one read brought.
        while data and not self._refused:
            if self._in_head:
                room = _HEAD_BUDGET - self._head_fed
                piece, data = data[:room], data[room:]
                self._head_fed += len(piece)
            else:
                piece, data = data, b""
            self._feed(piece)
            if self._refused or self.transport.is_closing():
                return
            if self._in_head and self._head_fed >= _HEAD_BUDGET:
                # A URL over its own limit was refused in on_url: this is a header.
                self._refuse(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
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
                self._refuse(exc.__context__.status)
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
        message = "Invalid HTTP request received."
        self.logger.warning(message)
        self.send_400_response(message)

    def handle_websocket_upgrade(self) -> None:
        super().handle_websocket_upgrade()
        self._release_address()  # the websocket's own caps apply from here

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._url_bytes = self._header_bytes = 0
        if self._head_deadline is None:
            self._head_deadline = self._later(self.config.timeout_keep_alive, self._too_slow)

    def on_url(self, url: bytes) -> None:
        self._url_bytes += len(url)
        if self._url_bytes > MAX_URL_BYTES:
            raise _TooLarge(HTTPStatus.REQUEST_URI_TOO_LONG)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4  # ": " and "\r\n"
        if self._header_bytes > MAX_HEADER_BYTES:
            raise _TooLarge(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._stop(self._head_deadline)
        self._head_deadline = None
        self._in_head = False
        super().on_headers_complete()
        if not self.parser.should_upgrade():
            # Stopped when the message is complete: at once, for a request without a body.
            self._body_deadline = self._later(_limits.body_timeout, self._body_too_slow)

    def on_message_complete(self) -> None:
        self._stop(self._body_deadline)
        self._body_deadline = None
        super().on_message_complete()
        self._in_head, self._head_fed = True, 0

    def shutdown(self) -> None:
        if self._body_deadline is not None and not self.cycle.response_started:
            self._refuse(HTTPStatus.SERVICE_UNAVAILABLE)  # still waiting for its body
            return
        super().shutdown()

    def _body_too_slow(self) -> None:
        self._body_deadline = None
        if self.cycle is not None and not self.cycle.response_started:
            self._refuse(HTTPStatus.REQUEST_TIMEOUT)
        elif not self.transport.is_closing():
            self.transport.close()

    def _too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def _refuse(self, status: HTTPStatus) -> None:
        """Answer `status` in the app's stead, read nothing more, and close soon after."""
        self._refused = True
        self._stop(self._head_deadline, self._body_deadline)
        self._head_deadline = self._body_deadline = None
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # The app's task, if one runs, reads a disconnect and its reply goes nowhere.
            cycle.disconnected = True
            cycle.message_event.set()
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
