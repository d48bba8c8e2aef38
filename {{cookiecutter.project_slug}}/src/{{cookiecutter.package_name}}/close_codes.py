"""The close codes this app sends, one named constant each; the README's table lists them."""

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
