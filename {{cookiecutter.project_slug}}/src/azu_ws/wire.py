"""How a socket's frames reach the wire: batched onto the server's transport where it offers
one (`TransportWire`), one ASGI send each anywhere else (`AsgiWire`); see docs/ARCHITECTURE.md."""

import asyncio
import contextlib
import socket
import struct
from collections.abc import Awaitable, Sequence
from typing import Any, Protocol

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from websockets.frames import Frame as WireFrame
from websockets.frames import Opcode
from websockets.protocol import Protocol as SansIOConnection
from websockets.protocol import State

from .frames import Frame

# Where `ExposeServer` leaves the object that holds the socket's transport.
SERVER_KEY = "azu.server"
# Frames as the bytes a server puts on the wire for them, made once for every
# recipient of a broadcast (`wire_bytes`).
WireCache = dict[Frame, bytes]


class PeerGone(OSError):
    """The socket can take no more frames: the peer left, or a close was sent. `code` and
    `reason`: the peer's close frame, where it sent one."""

    def __init__(self, message: str, code: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason

    @classmethod
    def of(cls, message: str, connection: SansIOConnection) -> "PeerGone":
        """The peer of `connection` is gone; with its close code, if it sent one."""
        close = connection.close_rcvd
        if close is None:
            return cls(message)
        return cls(message, close.code, close.reason)


class Wire(Protocol):
    """What a connection writes its frames through."""

    # True where several frames go out in one write (`TransportWire`).
    batched: bool

    def write(self, frames: Sequence[Frame], cache: WireCache) -> Awaitable[None] | None:
        """Put `frames` on the wire: None once done, or what to await for the rest."""

    def abort(self) -> None:
        """Reset the TCP connection, where the server offers its transport."""


class ExposeServer:
    """Middleware: put the object whose method is the server's `send` in the scope, when
    it holds a transport; ASGI has no other way to reach one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            server = getattr(send, "__self__", None)
            if getattr(server, "transport", None) is not None:
                scope[SERVER_KEY] = server
        await self.app(scope, receive, send)


class TransportWire:
    """Frames framed by the server's own `websockets` connection, written in one system
    call after the checks its `send` makes (flow control, a close sent, a peer gone)."""

    __slots__ = ("_server",)
    batched = True

    def __init__(self, server: Any) -> None:
        self._server = server

    def write(self, frames: Sequence[Frame], cache: WireCache) -> Awaitable[None] | None:
        server = self._server
        if not server.writable.is_set():  # flow control: the peer reads slowly
            return self._write_when_writable(frames)
        connection: SansIOConnection = server.conn
        if server.disconnected or server.close_sent or not server.handshake_complete:
            raise PeerGone.of("the socket is closed", connection)
        if connection.state is State.OPEN and not connection.extensions:
            data = b"".join([wire_bytes(frame, cache) for frame in frames])
            # What `websockets` owes the peer already (a pong) goes first, as it would.
            server.transport.write(b"".join([*connection.data_to_send(), data]))
            return None
        try:  # compressed: the bytes are this socket's own
            for frame in frames:
                if isinstance(frame, str):
                    connection.send_text(frame.encode())
                else:
                    connection.send_binary(frame)
        except Exception as exc:  # websockets' InvalidState: the connection is closing
            raise PeerGone.of(str(exc), connection) from exc
        server.transport.write(b"".join(connection.data_to_send()))
        return None

    def abort(self) -> None:
        _abort(self._server.transport)

    async def _write_when_writable(self, frames: Sequence[Frame]) -> None:
        # The transport may pause again between the wake-up and this task's turn:
        # wait until it is writable at the moment of writing, or the frames would
        # be handed to a write nobody awaits.
        while not self._server.writable.is_set():
            await self._server.writable.wait()
        self.write(frames, {})  # writable, with no await since: written now, or PeerGone


class AsgiWire:
    """One ASGI `send` per frame: any server, any websocket implementation."""

    __slots__ = ("_transport", "_websocket")
    batched = False

    def __init__(self, websocket: WebSocket, transport: Any) -> None:
        self._websocket = websocket
        self._transport = transport

    def write(self, frames: Sequence[Frame], cache: WireCache) -> Awaitable[None] | None:
        return self._send(frames)

    def abort(self) -> None:
        _abort(self._transport)

    async def _send(self, frames: Sequence[Frame]) -> None:
        for frame in frames:
            if isinstance(frame, str):
                await self._websocket.send_text(frame)
            else:
                await self._websocket.send_bytes(frame)


def wire_for(websocket: WebSocket, *, batched: bool = True) -> Wire:
    """A `TransportWire` if `batched` and the server offers what it needs, else an `AsgiWire`."""
    server = websocket.scope.get(SERVER_KEY)
    if batched and _can_batch(server):
        return TransportWire(server)
    return AsgiWire(websocket, getattr(server, "transport", None))


def _can_batch(server: Any) -> bool:
    """True if `server` frames with a `websockets` sans-I/O connection, writes to an
    asyncio transport and says when it may (uvicorn's websockets-sansio does)."""
    return (
        isinstance(getattr(server, "conn", None), SansIOConnection)
        and isinstance(getattr(server, "writable", None), asyncio.Event)
        and callable(getattr(getattr(server, "transport", None), "write", None))
        and all(hasattr(server, flag) for flag in ("disconnected", "close_sent"))
        and hasattr(server, "handshake_complete")
    )


def wire_bytes(frame: Frame, cache: WireCache) -> bytes:
    """`frame` as a server sends it without extensions, framed by `websockets` once."""
    data = cache.get(frame)
    if data is None:
        opcode = Opcode.TEXT if isinstance(frame, str) else Opcode.BINARY
        payload = frame.encode() if isinstance(frame, str) else frame
        data = cache[frame] = WireFrame(opcode, payload).serialize(mask=False)
    return data


def hang_up(websocket: WebSocket, grace: float) -> None:
    """End the TCP connection of a socket the server has sent its close frame to, without
    waiting for the peer's: nothing more is read (a refused client's half-sent frames
    would be), the close frame goes out, then the connection is closed; a peer that does
    not take even that is reset after `grace` seconds. Where the server offers no
    transport, its own close stands."""
    server = websocket.scope.get(SERVER_KEY)
    transport: Any = getattr(server, "transport", None)
    if not callable(getattr(transport, "close", None)):
        return
    transport.close()  # stops reading now; closes once what is written has gone

    def reset_if_still_open() -> None:
        if not getattr(server, "disconnected", False):  # uvicorn's: the connection was lost
            _abort(transport)

    asyncio.get_running_loop().call_later(grace, reset_if_still_open)


def _abort(transport: Any) -> None:
    """Reset the TCP connection of a peer that never reads: otherwise its socket and its
    send buffer stay until it goes away, and a shutdown waits for it."""
    if not callable(getattr(transport, "abort", None)):  # uvloop's transports too
        return
    # Linger 0: the kernel resets at once and frees the send buffer.
    with contextlib.suppress(OSError, AttributeError, ValueError):  # ValueError: closed
        raw = transport.get_extra_info("socket")
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
