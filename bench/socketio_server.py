"""The python-socketio comparison: a room that every client joins, and emit to the room.

What the issue's "python-socketio, emit to a room" row measures, served by
the same uvicorn options as the other two servers. Each client is put in
the room when it connects; a `message` event is emitted to the whole room,
sender included, as the app and the bare endpoint do.
"""

from typing import Any

import socketio

ROOM = "lobby"
server = socketio.AsyncServer(async_mode="asgi")
app = socketio.ASGIApp(server)


async def connect(sid: str, environ: dict[str, Any], auth: object = None) -> None:
    await server.enter_room(sid, ROOM)


async def message(sid: str, data: object) -> None:
    await server.emit("message", data, room=ROOM)


server.on("connect", connect)
server.on("message", message)
