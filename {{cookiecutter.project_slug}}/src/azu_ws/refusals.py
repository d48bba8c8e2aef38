"""Refusing a handshake: before the upgrade with an HTTP status, or after it with a close code
and a hang-up; one rate-limited log line each, naming the limit and the client's address."""

import functools
import ipaddress
import logging

from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket

from . import metrics
from .log_filters import SparseLines, refusing
from .wire import hang_up

logger = logging.getLogger(__name__)

# How long a refused socket may take its close frame before its TCP connection is reset.
REFUSAL_GRACE_SECONDS = 1.0
# A line per refusal, a few a second at most: anyone can make refusals.
_REFUSAL_LINES = SparseLines("refusals")


class Refused(Exception):
    """The handshake is refused: with `status`, an HTTP answer instead of the upgrade;
    otherwise accepted, then closed at once with `code`. `kind` names the limit, for the
    metrics and the log.

    An HTTP refusal costs the least (no upgrade, nothing read after it), but a browser
    sees only a bare 1006 and neither status nor reason. So it is kept for what the page
    need not read: an address over its limits (429; azu-ws.js backs off on any 1006) and
    a foreign origin (403; that page is told nothing). A code the client must read to act
    on it (4401: fetch a fresh token; 4400: stop; 4429 for its user, 1013: back off; 1011:
    retry) is sent after accepting (docs/protocol.md, Refusals).
    """

    def __init__(
        self,
        code: int,
        reason: str,
        kind: str,
        *,
        status: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.kind = kind
        self.status = status
        self.retry_after = retry_after

    async def answer(self, websocket: WebSocket, subprotocol: str | None, path: str) -> None:
        """Refuse a handshake not yet accepted; log and count it."""
        with refusing():
            extensions = websocket.scope.get("extensions") or {}
            if self.status is not None and "websocket.http.response" in extensions:
                headers = {"Retry-After": str(self.retry_after)} if self.retry_after else None
                await websocket.send_denial_response(
                    PlainTextResponse(self.reason, self.status, headers)
                )
            elif self.status is not None:  # a close before accepting: the server's 403
                await websocket.close(self.code, self.reason)
            else:
                # A browser that offered the bearer subprotocol drops the connection
                # unless the server echoes it, even when we accept only to refuse.
                await websocket.accept(subprotocol=subprotocol)
                await self._close(websocket)
        self._record(websocket, path)

    async def close(self, websocket: WebSocket, path: str) -> None:
        """Close an accepted socket with the refusal's code; log and count it."""
        with refusing():
            await self._close(websocket)
        self._record(websocket, path)

    async def _close(self, websocket: WebSocket) -> None:
        await websocket.close(self.code, self.reason)
        # Without this the server would read on, until the client's close or for
        # seconds: a refused socket would hold its buffers and file descriptor.
        hang_up(websocket, REFUSAL_GRACE_SECONDS)

    def _record(self, websocket: WebSocket, path: str) -> None:
        metrics.HANDSHAKE_REFUSALS.labels(path, self.kind).inc()
        answer = f"HTTP {self.status}" if self.status is not None else str(self.code)
        address = client_address(websocket)
        line = f"{path} refused {address} with {answer} ({self.kind}): {self.reason}"
        if (admitted := _REFUSAL_LINES.admit(line)) is not None:
            logger.info("%s", admitted)


def client_address(websocket: WebSocket) -> str:
    """The key the client's address is counted under (`address_key`)."""
    return address_key(websocket.client.host if websocket.client else "")


# Each handshake asks up to three times (the edge, then admission): parsing an address
# costs microseconds. Bounded, so that many distinct clients cost a fixed amount.
@functools.lru_cache(maxsize=4096)
def address_key(host: str) -> str:
    """Whose handshakes and sockets are counted together: a client's IPv4 address, or its
    IPv6 /64, which one subscriber usually holds whole. An IPv4 client seen as
    `::ffff:a.b.c.d` (through a dual-stack socket, or a proxy that forwards it so) is
    keyed by its IPv4 address: as a /64, every IPv4 client would share one key."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return host
