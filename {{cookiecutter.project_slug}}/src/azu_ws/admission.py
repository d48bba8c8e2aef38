"""Admission: the checks a handshake passes before any channel code runs, in the order that
costs a hostile client most and the server least (docs/ARCHITECTURE.md, A socket's life)."""

import logging
import math
import re
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from starlette.websockets import WebSocket

from .auth import AuthenticationError, VerifierFailed, authenticate
from .channel import Channel
from .close_codes import (
    WS_1011_INTERNAL_ERROR,
    WS_1013_TRY_AGAIN_LATER,
    WS_4400_BAD_REQUEST,
    WS_4401_UNAUTHORIZED,
    WS_4403_FORBIDDEN,
    WS_4429_TOO_MANY_CONNECTIONS,
)
from .connection import SESSION_KEY
from .frames import Position
from .hub import user_topic
from .origins import origin_allowed
from .refusals import Refused, client_address

if TYPE_CHECKING:
    from .services import Services

logger = logging.getLogger(__name__)

# Where `admit` leaves the client's `?since=` position.
SINCE_KEY = "azu.since"
# A client's `?session=`: a name it keeps across its reconnects (azu-ws.js makes one).
SESSION_PATTERN = re.compile(r"[A-Za-z0-9_-]{8,64}")
TOO_MANY_ATTEMPTS = "Too many connection attempts; wait before reconnecting"
TOO_MANY_FROM_ADDRESS = "Too many connections from this address"
# What a client refused for its address's open sockets is told to wait: one of
# them must end first, and nothing says when; long enough to keep a loop slow.
ADDRESS_FULL_RETRY_SECONDS = 10


def admit(
    channel_class: type[Channel[Any, Any]], websocket: WebSocket, services: "Services"
) -> dict[str, str]:
    """Check the handshake before any channel code runs; return the path parameters.

    `?since=epoch:offset`, where the client left off, is checked here too,
    and left in the scope for the channel.
    """
    settings, limits = services.settings, services.limits
    # Counted before anything is checked: a refused handshake costs an attempt too.
    address = client_address(websocket)
    if not limits.attempts_per_address.allow(address):
        # Until the address's bucket has a token again.
        wait = math.ceil(60 / settings.ws_connect_rate_per_address)
        raise Refused(
            WS_4429_TOO_MANY_CONNECTIONS,
            TOO_MANY_ATTEMPTS,
            "attempts",
            status=429,
            retry_after=wait,
        )
    if not origin_allowed(websocket.headers, settings.allowed_origins):
        raise Refused(WS_4403_FORBIDDEN, "origin not allowed", "origin", status=403)
    try:
        user = authenticate(websocket, settings)
    except AuthenticationError as exc:
        raise Refused(WS_4401_UNAUTHORIZED, exc.reason, "token") from None
    except VerifierFailed:
        # The server's fault, not the token's: a code the client retries, never 4401.
        logger.exception("%s: could not verify a token", channel_class.path)
        raise Refused(
            WS_1011_INTERNAL_ERROR, "Could not verify the token; retry", "internal"
        ) from None
    if not limits.attempts_per_user.allow(user.id):
        raise Refused(WS_4429_TOO_MANY_CONNECTIONS, TOO_MANY_ATTEMPTS, "attempts")
    if services.hub.is_revoked(user):
        raise Refused(WS_4401_UNAUTHORIZED, "token revoked", "revoked")
    websocket.scope["user"] = user
    params = dict(websocket.path_params)
    if channel_class.params_model is not None:
        try:
            channel_class.params_model.model_validate(params)
        except ValidationError as exc:
            names = ", ".join(str(error["loc"][0]) for error in exc.errors())
            raise Refused(WS_4400_BAD_REQUEST, f"invalid {names}", "params") from None
    session = websocket.query_params.get("session")
    if session is not None and not SESSION_PATTERN.fullmatch(session):
        raise Refused(WS_4400_BAD_REQUEST, "invalid session", "params")
    websocket.scope[SESSION_KEY] = session
    since = websocket.query_params.get("since")
    try:
        websocket.scope[SINCE_KEY] = Position.parse(since) if since is not None else None
    except ValueError:
        raise Refused(WS_4400_BAD_REQUEST, "invalid since", "params") from None
    # Asked here as well as after accepting (`Session.run`, which decides): a
    # full server or user is then refused without the upgrade's log lines.
    if (refusal := over_capacity(services, user.id)) is not None:
        raise refusal
    # Checked and counted with no await between: concurrent handshakes cannot
    # overshoot. Released when the socket ends (`channel_endpoint`).
    sockets = limits.sockets_per_address
    if sockets.count(address) >= settings.ws_max_connections_per_address:
        raise Refused(
            WS_4429_TOO_MANY_CONNECTIONS,
            TOO_MANY_FROM_ADDRESS,
            "address_full",
            status=429,
            retry_after=ADDRESS_FULL_RETRY_SECONDS,
        )
    sockets.add(address)
    return params


def over_capacity(services: "Services", user_id: str) -> Refused | None:
    """A refusal if the process or the user has all the connections allowed.

    Checked right before the connection is counted, with no await between,
    so that concurrent handshakes cannot overshoot the caps (and by `admit`, so that
    the usual refusal comes before the upgrade's log lines).
    """
    settings, hub = services.settings, services.hub
    if len(hub.connections) >= settings.ws_max_connections:
        return Refused(
            WS_1013_TRY_AGAIN_LATER, "Too many connections; try again later", "server_full"
        )
    if len(hub.members(user_topic(user_id))) >= settings.ws_max_connections_per_user:
        return Refused(
            WS_4429_TOO_MANY_CONNECTIONS, "Too many connections for this user", "user_full"
        )
    return None
