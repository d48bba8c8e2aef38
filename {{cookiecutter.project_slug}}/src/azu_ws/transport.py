"""Handing the connection's TCP transport to the app, for the one thing ASGI cannot say.

A peer that stopped reading cannot be sent a close frame, and uvicorn then
keeps its socket open until it goes away. The only cure is to reset the TCP
connection, which needs the transport: uvicorn's `send` is a method of its
protocol, which holds it. This middleware, outermost, puts the protocol in
the scope.
"""

from starlette.types import ASGIApp, Receive, Scope, Send

# The server's protocol object of a websocket: its transport, and what
# `batch.batch_writer` needs.
PROTOCOL_KEY = "azu.protocol"


class TransportHandle:
    """Put the server's protocol of a websocket (which holds its transport) in
    `scope[PROTOCOL_KEY]`, when there is one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            protocol = getattr(send, "__self__", None)
            if getattr(protocol, "transport", None) is not None:
                scope[PROTOCOL_KEY] = protocol
        await self.app(scope, receive, send)
