"""The runner: turns a `Channel` class into a websocket endpoint and owns each socket's life,
whatever the channel does (docs/ARCHITECTURE.md, A socket's life)."""

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from starlette.types import Message
from starlette.websockets import WebSocket

from . import metrics
from .admission import SINCE_KEY, admit, over_capacity
from .auth import (
    BEARER_SUBPROTOCOL,
    AuthenticationError,
    VerifierFailed,
    verify_token,
)
from .channel import Channel
from .close_codes import (
    WS_1000_NORMAL_CLOSURE,
    WS_1008_POLICY_VIOLATION,
    WS_1009_MESSAGE_TOO_BIG,
    WS_1011_INTERNAL_ERROR,
    WS_4403_FORBIDDEN,
)
from .errors import ClientError, error_for_invalid_frame
from .messages import Auth, Authenticated, ErrorMessage
from .refusals import Refused, client_address

if TYPE_CHECKING:
    from .services import Services

logger = logging.getLogger(__name__)

Endpoint = Callable[[WebSocket], Awaitable[None]]

# Invalid frames in a row before a client is taken for broken or hostile (1008).
MAX_INVALID_IN_A_ROW = 10


def _structure(text: str) -> int:
    """An upper bound on a JSON text's members, items and levels of nesting."""
    return text.count(",") + text.count(":") + text.count("[") + text.count("{")


def channel_endpoint(channel_class: type[Channel[Any, Any]]) -> Endpoint:
    """The ASGI websocket endpoint that runs `channel_class` for each connection."""

    async def endpoint(websocket: WebSocket) -> None:
        services: Services = websocket.app.state.services
        offered = websocket.scope.get("subprotocols", [])
        subprotocol = BEARER_SUBPROTOCOL if BEARER_SUBPROTOCOL in offered else None
        try:
            params = admit(channel_class, websocket, services)
        except Refused as refusal:
            await refusal.answer(websocket, subprotocol, channel_class.path)
            return
        # Counted by `admit`, until the socket ends.
        sockets, address = services.limits.sockets_per_address, client_address(websocket)
        try:
            await websocket.accept(subprotocol=subprotocol)
            session = Session(channel_class, websocket, services, params)
            await session.run()
        finally:
            sockets.remove(address)

    endpoint.__name__ = f"{channel_class.__name__}_endpoint"
    return endpoint


class Session:
    """One accepted connection of one channel, from `on_connect` to cleanup."""

    def __init__(
        self,
        channel_class: type[Channel[Any, Any]],
        websocket: WebSocket,
        services: "Services",
        params: dict[str, str],
    ) -> None:
        self.channel_class = channel_class
        self.websocket = websocket
        self.services = services
        self.params = params
        settings = services.settings
        self.max_size = settings.ws_max_message_size
        self.max_items = settings.ws_max_frame_items
        # The user's, shared by their sockets: reconnecting does not refill it.
        self.messages = services.limits.messages
        self.user_id: str = websocket.scope["user"].id
        self.burst = settings.ws_rate_burst
        self.strikes = 0  # frames refused in a row for the rate limit
        self.invalid = 0  # invalid frames in a row

    async def run(self) -> None:
        hub, user_id = self.services.hub, self.websocket.scope["user"].id
        refusal = over_capacity(self.services, user_id)
        if refusal is not None:
            await refusal.close(self.websocket, self.channel_class.path)
            return
        path = self.channel_class.path
        try:
            connection = await hub.connect(self.websocket, self.websocket.scope["user"], path)
        except Exception:
            logger.exception("%s: could not register a connection of %s", path, user_id)
            await self.websocket.close(WS_1011_INTERNAL_ERROR, "Internal error")
            return
        since = self.websocket.scope.get(SINCE_KEY)
        state = self.websocket.app.state
        channel = self.channel_class(connection, self.services, state, self.params, since)
        user = connection.user.id
        metrics.CONNECTIONS_OPEN.labels(path).inc()
        logger.info("%s: %s connected (connections: %d)", path, user, len(hub.connections))
        code, reason = WS_1000_NORMAL_CLOSURE, ""
        try:
            if await self._start(channel):
                code, reason = await self._receive_loop(channel)
        except Exception:
            # A bug in the machinery: this connection ends with 1011, not the
            # bare 1006 uvicorn would leave, and nobody else notices.
            logger.exception("%s: the runner failed for %s", path, user)
            connection.close(WS_1011_INTERNAL_ERROR, "Internal error", abandon_queue=True)
        finally:
            if connection.close_code is not None:
                code, reason = connection.close_code, connection.close_reason
            try:
                await channel.on_close(code, reason)
            except Exception:
                logger.exception("%s: on_close failed for %s", path, user)
            await hub.disconnect(connection)
            metrics.CONNECTIONS_OPEN.labels(path).dec()
            metrics.CLOSES.labels(path, metrics.close_code_label(code)).inc()
            count = len(hub.connections)
            logger.info("%s: %s disconnected with %d (connections: %d)", path, user, code, count)
            await connection.wait_closed()

    async def _start(self, channel: Channel[Any, Any]) -> bool:
        """Authorize and run `on_connect`; False if the connection ended there."""
        try:
            if not await channel.authorize():
                metrics.HANDSHAKE_REFUSALS.labels(channel.path, "forbidden").inc()
                await channel.close(WS_4403_FORBIDDEN, "Forbidden")
            else:
                await channel.on_connect()
                await self._catch_up(channel)
        except Exception:
            logger.exception("%s: on_connect failed for %s", channel.path, channel.user.id)
            await channel.close(WS_1011_INTERNAL_ERROR, "Internal error")
        return not channel.connection.closing

    @staticmethod
    async def _catch_up(channel: Channel[Any, Any]) -> None:
        """Send what the hook's `join`s held back (`Hub.join`): after what it pushed."""
        if channel.hub.is_catching_up(channel.connection):
            await channel.hub.catch_up(channel.connection)

    async def _receive_loop(self, channel: Channel[Any, Any]) -> tuple[int, str]:
        """Dispatch frames until the client goes away or the server closes; return the code."""
        while (message := await channel.connection.receive()) is not None:
            if message["type"] == "websocket.disconnect":
                code = int(message.get("code") or WS_1000_NORMAL_CLOSURE)
                return code, message.get("reason") or ""
            await self._dispatch(channel, message)
        return WS_1000_NORMAL_CLOSURE, ""

    async def _dispatch(self, channel: Channel[Any, Any], message: Message) -> None:
        text: str | None = message.get("text")
        data: bytes = b"" if text is not None else (message.get("bytes") or b"")
        if self._too_big(text, data):
            await channel.close(WS_1009_MESSAGE_TOO_BIG, "Message too big")
        elif not await self.messages.take(self.user_id):
            await self._over_rate_limit(channel)
        else:
            self.strikes = 0
            if text is None:
                metrics.counter_for(metrics.MESSAGES_RECEIVED, channel.path, "binary").inc()
                await self._guard(channel, channel.on_binary(data))
            else:
                await self._handle_text(channel, text)

    def _too_big(self, text: str | None, data: bytes) -> bool:
        limit = self.max_size
        if text is None:
            return len(data) > limit
        # A character is at least one byte, so only long texts need encoding.
        return len(text) > limit or (len(text) * 4 > limit and len(text.encode()) > limit)

    async def _over_rate_limit(self, channel: Channel[Any, Any]) -> None:
        # The frame is dropped. A client that goes on sending past a whole
        # burst of refusals is flooding, not bursting: it is closed.
        self.strikes += 1
        metrics.RATE_LIMITED.labels(channel.path).inc()
        if self.strikes > self.burst:
            await channel.close(WS_1008_POLICY_VIOLATION, "Rate limit exceeded")
        else:
            await channel.push(
                ErrorMessage(code="rate_limited", message="Too many messages; slow down")
            )

    async def _handle_text(self, channel: Channel[Any, Any], text: str) -> None:
        # Parsing and validating cost time in proportion to a frame's fields,
        # items and nesting, whatever they are: past WS_MAX_FRAME_ITEMS of them
        # (commas, colons, brackets and braces, counted in C, strings and all),
        # a frame is refused unread.
        if len(text) > self.max_items and _structure(text) > self.max_items:
            unread = f"More than {self.max_items} fields and items: not read"
            await self._refuse_invalid(
                channel, ErrorMessage(code="invalid_message", message=unread)
            )
            return
        try:
            message = channel.inbound.validate_json(text)
        except ValidationError as exc:
            await self._refuse_invalid(channel, error_for_invalid_frame(exc, text))
            return
        self.invalid = 0
        metrics.counter_for(metrics.MESSAGES_RECEIVED, channel.path, message.type).inc()
        if isinstance(message, Auth):
            await self._reauthenticate(channel, message)
            return
        await self._guard(channel, channel.on_message(message), ref=getattr(message, "ref", None))

    async def _refuse_invalid(self, channel: Channel[Any, Any], error: ErrorMessage) -> None:
        """Answer an invalid frame with `error`; close a stream of them with 1008."""
        metrics.counter_for(metrics.MESSAGES_RECEIVED, channel.path, "invalid").inc()
        self.invalid += 1
        if self.invalid > MAX_INVALID_IN_A_ROW:
            await channel.close(WS_1008_POLICY_VIOLATION, "Too many invalid messages")
        else:
            await channel.push(error)

    async def _reauthenticate(self, channel: Channel[Any, Any], message: Auth) -> None:
        """Take a fresh token for the same user: the socket outlives the old one's expiry."""
        try:
            user = verify_token(message.token, self.services.settings)
        except AuthenticationError as exc:
            await channel.reply(message, ErrorMessage(code="invalid_token", message=exc.reason))
            return
        except VerifierFailed:
            logger.exception("%s: could not verify a token", channel.path)
            failed = ErrorMessage(code="internal_error", message="Could not verify the token")
            await channel.reply(message, failed)
            return
        connection = channel.connection
        if user.id != connection.user.id:
            mismatch = ErrorMessage(code="invalid_token", message="the token is for another user")
            await channel.reply(message, mismatch)
            return
        if self.services.hub.is_revoked(user):
            await channel.reply(
                message, ErrorMessage(code="invalid_token", message="token revoked")
            )
            return
        connection.user = channel.user = user
        connection.expires_at = float(user.claims["exp"])
        # The new token may grant less (a group dropped from a claim): ask again.
        if not await channel.authorize():
            await channel.close(WS_4403_FORBIDDEN, "Forbidden")
            return
        expires_at = datetime.fromtimestamp(connection.expires_at, UTC)
        await channel.reply(message, Authenticated(expires_at=expires_at))

    @classmethod
    async def _guard(
        cls, channel: Channel[Any, Any], hook: Awaitable[None], ref: Any = None
    ) -> None:
        """Run a message hook; a crash is logged and reported, and the socket stays open.
        Then what its `join`s held back follows what it pushed."""
        try:
            try:
                await hook
            except ClientError as refusal:
                # A code the channel does not declare raises here: a bug, reported below.
                refused = ErrorMessage(code=refusal.code, message=refusal.message, ref=ref)
                await channel.push(refused)
        except Exception:
            logger.exception("%s: handler failed for %s", channel.path, channel.user.id)
            await channel.push(
                ErrorMessage(code="internal_error", message="Internal server error", ref=ref)
            )
        await cls._catch_up(channel)
