"""Several queued frames of one socket in one write, under uvicorn's websockets-sansio.

Under fan-out a socket's queue often holds many frames at once. ASGI sends
them one `send` at a time, and uvicorn makes each one a system call: the
profile of the benchmark puts most of the server's time there. Its
websockets-sansio protocol frames a message with a `websockets` connection
object, then writes what that produced; `batch_writer` has the same object
frame a whole batch and writes it once, after the same checks as uvicorn's
`send` (flow control, a close sent, a peer gone).

Under any other server, or if uvicorn's protocol changes shape, there is no
batch writer and frames go one by one through ASGI, as before.
"""

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.types import Scope

from .transport import PROTOCOL_KEY

# What a socket is sent: a text frame or a binary one.
Frame = str | bytes
BatchWriter = Callable[[Sequence[Frame]], Awaitable[None]]
# What the protocol must have for a batch to be written as its `send` would.
_NEEDED = ("conn", "transport", "writable", "disconnected", "close_sent", "handshake_complete")


class PeerGone(OSError):
    """The socket can take no more frames: the peer left, or a close was sent."""


def batch_writer(scope: Scope) -> BatchWriter | None:
    """A function that writes frames in one system call, or None where it cannot."""
    protocol: Any = scope.get(PROTOCOL_KEY)
    if type(protocol).__name__ != "WebSocketsSansIOProtocol":
        return None
    if not all(hasattr(protocol, name) for name in _NEEDED):
        return None

    async def write(frames: Sequence[Frame]) -> None:
        await protocol.writable.wait()  # the transport's flow control, as in `send`
        if protocol.disconnected or protocol.close_sent or not protocol.handshake_complete:
            raise PeerGone("the socket is closed")
        connection = protocol.conn
        try:
            for frame in frames:
                if isinstance(frame, str):
                    connection.send_text(frame.encode())
                else:
                    connection.send_binary(frame)
        except Exception as exc:  # websockets' InvalidState: the connection is closing
            raise PeerGone(str(exc)) from exc
        protocol.transport.write(b"".join(connection.data_to_send()))

    return write
