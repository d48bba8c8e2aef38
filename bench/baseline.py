"""The baseline: a bare Starlette broadcast endpoint, the least a Python server can do.

A set of sockets and `send_text` in a loop: no authentication, no validation,
no queues, no presence. The benchmark serves it with the same uvicorn
settings as the app and sends it the same frames.
"""

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

CONNECTED = '{"type": "connected"}'
sockets: set[WebSocket] = set()


async def broadcast(websocket: WebSocket) -> None:
    await websocket.accept()
    sockets.add(websocket)
    await websocket.send_text(CONNECTED)
    try:
        while True:
            text = await websocket.receive_text()
            for socket in list(sockets):
                try:
                    await socket.send_text(text)
                except (WebSocketDisconnect, RuntimeError):
                    sockets.discard(socket)
    except WebSocketDisconnect:
        pass
    finally:
        sockets.discard(websocket)


app = Starlette(routes=[WebSocketRoute("/ws/chat", broadcast)])
