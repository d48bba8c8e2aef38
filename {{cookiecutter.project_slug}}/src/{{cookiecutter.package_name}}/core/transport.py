"""Handing the connection's TCP transport to the app, for the one thing ASGI cannot say.

A peer that stopped reading cannot be sent a close frame, and uvicorn then
keeps its socket open until it goes away. The only cure is to reset the TCP
connection, which needs the transport: uvicorn's `send` is a method of its
protocol, which holds it. This middleware, outermost, puts it in the scope.
"""

from starlette.types import ASGIApp, Receive, Scope, Send

TRANSPORT_KEY = "azu.transport"
# The server's protocol object of a websocket, for `batch.batch_writer`.
PROTOCOL_KEY = "azu.protocol"


class TransportHandle:
    """Put the server's transport of a websocket in `scope[TRANSPORT_KEY]`, when there is one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            protocol = getattr(send, "__self__", None)
            transport = getattr(protocol, "transport", None)
            if transport is not None:
                scope[TRANSPORT_KEY] = transport
                scope[PROTOCOL_KEY] = protocol
        await self.app(scope, receive, send)
