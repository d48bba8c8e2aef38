"""The runner: turns a `Channel` class into a websocket endpoint and owns its lifecycle.

Guarantees, whatever the channel does: an unauthenticated handshake never
reaches channel code (it is closed with 4401); a crash in `on_connect` closes
with 1011; a crash in a message hook answers `internal_error` and keeps the
socket open; `on_close` runs exactly once; the connection leaves every topic;
a client that vanishes never raises out of the endpoint.
"""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketState

from ..auth import BEARER_SUBPROTOCOL, AuthenticationError, authenticate
from ..close_codes import (
    WS_1000_NORMAL_CLOSURE,
    WS_1009_MESSAGE_TOO_BIG,
    WS_1011_INTERNAL_ERROR,
    WS_4401_UNAUTHORIZED,
)
from ..config import Settings
from ..messages import ErrorMessage
from .channel import Channel
from .connection import Connection
from .errors import error_for_invalid_frame
from .hub import Hub

logger = logging.getLogger(__name__)

Endpoint = Callable[[WebSocket], Awaitable[None]]


def channel_endpoint(channel_class: type[Channel[Any]]) -> Endpoint:
    """The ASGI websocket endpoint that runs `channel_class` for each connection."""

    async def endpoint(websocket: WebSocket) -> None:
        settings: Settings = websocket.app.state.settings
        hub: Hub = websocket.app.state.hub
        # A browser that offered the bearer subprotocol drops the connection
        # unless the server echoes it, even when we accept only to refuse.
        subprotocol = BEARER_SUBPROTOCOL if BEARER_SUBPROTOCOL in _offered(websocket) else None
        try:
            user = authenticate(websocket, settings)
        except AuthenticationError as exc:
            await websocket.accept(subprotocol=subprotocol)
            await websocket.close(WS_4401_UNAUTHORIZED, exc.reason)
            logger.info("%s refused: %s", channel_class.path, exc.reason)
            return
        await websocket.accept(subprotocol=subprotocol)
        connection = await hub.connect(websocket, user)
        channel = channel_class(connection, hub, dict(websocket.path_params))
        await _run(channel, connection, websocket, hub, settings)

    endpoint.__name__ = f"{channel_class.__name__}_endpoint"
    return endpoint


def _offered(websocket: WebSocket) -> list[str]:
    return list(websocket.scope.get("subprotocols", []))


async def _run(
    channel: Channel[Any],
    connection: Connection,
    websocket: WebSocket,
    hub: Hub,
    settings: Settings,
) -> None:
    path = channel.path
    user = connection.user.id
    logger.info("%s: %s connected (connections: %d)", path, user, len(hub.connections))
    code, reason = WS_1000_NORMAL_CLOSURE, ""
    try:
        try:
            await channel.on_connect()
        except Exception:
            logger.exception("%s: on_connect failed for %s", path, user)
            await connection.close(WS_1011_INTERNAL_ERROR, "Internal error")
        if not connection.closing:
            code, reason = await _receive_loop(channel, connection, websocket, settings)
        if connection.close_code is not None:
            code, reason = connection.close_code, connection.close_reason
    finally:
        try:
            await channel.on_close(code, reason)
        except Exception:
            logger.exception("%s: on_close failed for %s", path, user)
        await hub.disconnect(connection)
        logger.info(
            "%s: %s disconnected with %d (connections: %d)",
            path,
            user,
            code,
            len(hub.connections),
        )


async def _receive_loop(
    channel: Channel[Any], connection: Connection, websocket: WebSocket, settings: Settings
) -> tuple[int, str]:
    """Dispatch frames until the client goes away or the server closes; return the close code."""
    limit = settings.ws_max_message_size
    while not connection.closing and websocket.client_state is WebSocketState.CONNECTED:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return int(message.get("code") or WS_1000_NORMAL_CLOSURE), message.get("reason") or ""
        text: str | None = message.get("text")
        if text is not None:
            # A character is at least one byte, so only long texts need encoding.
            if len(text) > limit or (len(text) * 4 > limit and len(text.encode()) > limit):
                await connection.close(WS_1009_MESSAGE_TOO_BIG, "Message too big")
                break
            await _handle_text(channel, text)
        else:
            data: bytes = message.get("bytes") or b""
            if len(data) > limit:
                await connection.close(WS_1009_MESSAGE_TOO_BIG, "Message too big")
                break
            await _guard(channel, channel.on_binary(data))
    return WS_1000_NORMAL_CLOSURE, ""


async def _handle_text(channel: Channel[Any], text: str) -> None:
    try:
        message = channel.inbound.validate_json(text)
    except ValidationError as exc:
        await channel.push(error_for_invalid_frame(exc, text))
        return
    await _guard(channel, channel.on_message(message), ref=getattr(message, "ref", None))


async def _guard(channel: Channel[Any], hook: Awaitable[None], ref: Any = None) -> None:
    """Run a message hook; a crash is logged and reported, and the socket stays open."""
    try:
        await hook
    except Exception:
        logger.exception("%s: handler failed for %s", channel.path, channel.user.id)
        await channel.push(
            ErrorMessage(code="internal_error", message="Internal server error", ref=ref)
        )
