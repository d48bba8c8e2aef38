"""The close codes this app sends, one named constant each; `docs/protocol.md` lists them."""

from typing import Final

WS_1000_NORMAL_CLOSURE: Final = 1000
WS_1008_POLICY_VIOLATION: Final = 1008
WS_1009_MESSAGE_TOO_BIG: Final = 1009
WS_1011_INTERNAL_ERROR: Final = 1011
WS_1013_TRY_AGAIN_LATER: Final = 1013
# 4000-4999 are for applications (RFC 6455, 7.4.2). Each is sent after the
# handshake is accepted, so a browser sees the code and reason instead of the
# bare 1006 it gets for a refused handshake or a dropped network.
WS_4008_SLOW_CONSUMER: Final = 4008
WS_4400_BAD_REQUEST: Final = 4400
WS_4401_UNAUTHORIZED: Final = 4401
WS_4403_FORBIDDEN: Final = 4403
WS_4408_HEARTBEAT_TIMEOUT: Final = 4408
WS_4429_TOO_MANY_CONNECTIONS: Final = 4429
# Sent by uvicorn itself, not by this app's code.
WS_1007_INVALID_PAYLOAD: Final = 1007
WS_1012_SERVICE_RESTART: Final = 1012
# Never sent: what the server records (on_close, metrics) for a peer that went
# away without a close frame, as RFC 6455 has a client report it.
WS_1006_ABNORMAL_CLOSURE: Final = 1006

# Every code a client of this app may see: what it is called, and when it is sent.
# `/asyncapi.json` carries this table; the one in `docs/protocol.md` is checked against it.
CLOSE_CODES: Final[dict[int, tuple[str, str]]] = {
    WS_1000_NORMAL_CLOSURE: ("normal closure", "either side ended the connection normally"),
    WS_1007_INVALID_PAYLOAD: ("invalid frame payload", "a text frame that is not UTF-8"),
    WS_1008_POLICY_VIOLATION: (
        "policy violation",
        "the client went on sending while rate limited, or sent too many invalid frames in a row",
    ),
    WS_1009_MESSAGE_TOO_BIG: ("message too big", "a frame larger than WS_MAX_MESSAGE_SIZE"),
    WS_1011_INTERNAL_ERROR: (
        "internal error",
        "the channel failed to start this connection, or the server could not check the token",
    ),
    WS_1012_SERVICE_RESTART: (
        "service restart",
        "the server is shutting down, or lost messages it cannot replay: reconnect (with since)",
    ),
    WS_1013_TRY_AGAIN_LATER: ("try again later", "the process has WS_MAX_CONNECTIONS already"),
    WS_4008_SLOW_CONSUMER: ("slow consumer", "the client did not read and its queue filled"),
    WS_4400_BAD_REQUEST: ("bad request", "invalid path parameters, or an invalid `since`"),
    WS_4401_UNAUTHORIZED: (
        "unauthorized",
        "no valid token, or it expired while connected: get a fresh one, do not retry as is",
    ),
    WS_4403_FORBIDDEN: (
        "forbidden",
        "origin not allowed, the channel refused the user, or the user was disconnected",
    ),
    WS_4408_HEARTBEAT_TIMEOUT: ("heartbeat timeout", "the client did not answer a heartbeat"),
    WS_4429_TOO_MANY_CONNECTIONS: (
        "too many connections",
        "the user has WS_MAX_CONNECTIONS_PER_USER sockets on this process already, or opened "
        "handshakes too fast (WS_CONNECT_RATE), or their address did (WS_CONNECT_RATE_PER_ADDRESS)",
    ),
}
