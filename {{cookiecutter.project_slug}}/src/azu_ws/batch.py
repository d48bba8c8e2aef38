"""Several queued frames of one socket in one write, under uvicorn's websockets-sansio.

Under fan-out a socket's queue often holds many frames at once. ASGI sends
them one `send` at a time, and uvicorn makes each one a system call: the
profile of the benchmark puts most of the server's time there. Its
websockets-sansio protocol frames a message with a `websockets` connection
object, then writes what that produced; a `BatchWriter` has the same object
frame a whole batch and writes it once, after the same checks as uvicorn's
`send` (flow control, a close sent, a peer gone). The bytes of a frame are
the same for every socket without an extension (compression): the flusher
has `websockets` frame each broadcast once for all of them (`wire_bytes`).

Under any other server, or if uvicorn's protocol changes shape, there is no
batch writer and frames go one by one through ASGI, as before.
"""

from collections.abc import Sequence
from typing import Any

from starlette.types import Scope
from websockets.frames import Frame as WireFrame
from websockets.frames import Opcode
from websockets.protocol import State

from .transport import PROTOCOL_KEY

# What a socket is sent: a text frame or a binary one.
Frame = str | bytes
# Frames as the bytes a server puts on the wire for them, made once for all
# recipients of a broadcast (see `wire_bytes`).
Framed = dict[Frame, bytes]
# What the protocol must have for a batch to be written as its `send` would.
_NEEDED = ("conn", "transport", "writable", "disconnected", "close_sent", "handshake_complete")


class PeerGone(OSError):
    """The socket can take no more frames: the peer left, or a close was sent."""


class BatchWriter:
    """Writes frames of one socket in one system call, as the protocol's `send` would."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol

    @property
    def ready(self) -> bool:
        """False while the transport's flow control says to wait (`write` waits)."""
        return bool(self._protocol.writable.is_set())

    def write_now(self, frames: Sequence[Frame], framed: Framed) -> None:
        """Write `frames` at once; only when `ready`, as nothing here waits.

        Frames in `framed` (put in wire format for another socket) are written
        as they are, where this socket has no extension (compression) that
        would make its bytes its own.
        """
        protocol = self._protocol
        if protocol.disconnected or protocol.close_sent or not protocol.handshake_complete:
            raise PeerGone("the socket is closed")
        connection = protocol.conn
        if connection.state is State.OPEN and not connection.extensions:
            data = b"".join([wire_bytes(frame, framed) for frame in frames])
            # What `websockets` owes the peer already (a pong) goes first, as it would.
            protocol.transport.write(b"".join([*connection.data_to_send(), data]))
            return
        try:
            for frame in frames:
                if isinstance(frame, str):
                    connection.send_text(frame.encode())
                else:
                    connection.send_binary(frame)
        except Exception as exc:  # websockets' InvalidState: the connection is closing
            raise PeerGone(str(exc)) from exc
        protocol.transport.write(b"".join(connection.data_to_send()))

    async def write(self, frames: Sequence[Frame]) -> None:
        """Wait for the transport's flow control, as `send` does, then write `frames`."""
        await self._protocol.writable.wait()
        self.write_now(frames, {})  # no other socket to share the framing with


def wire_bytes(frame: Frame, framed: Framed) -> bytes:
    """`frame` as a server sends it without extensions, framed by `websockets` once."""
    data = framed.get(frame)
    if data is None:
        if isinstance(frame, str):
            wire = WireFrame(Opcode.TEXT, frame.encode())
        else:
            wire = WireFrame(Opcode.BINARY, frame)
        data = framed[frame] = wire.serialize(mask=False)
    return data


def batch_writer(scope: Scope) -> BatchWriter | None:
    """A writer of frames in one system call, or None where there cannot be one."""
    protocol: Any = scope.get(PROTOCOL_KEY)
    if type(protocol).__name__ != "WebSocketsSansIOProtocol":
        return None
    if not all(hasattr(protocol, name) for name in _NEEDED):
        return None
    return BatchWriter(protocol)
