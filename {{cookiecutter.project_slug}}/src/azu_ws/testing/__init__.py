"""The test kit of an app on azu_ws: typed channel clients (`open_channel`, `served_channel`),
TestClient sockets, the app served by uvicorn, a real redis-server, Chromium
(`azu_ws.testing.browser`). Needs pytest; the runtime never imports it."""

from ..auth import create_token
from .channel_client import ChannelClient, Closed, Join, joiner, open_channel, served_channel
from .redis_server import RedisServer, running_redis
from .running import app_of, services_of
from .served import (
    WAIT,
    Server,
    client_frame,
    close_code_on,
    free_port,
    health,
    receive,
    serve_command,
    stalled_client,
    system_binary,
    two_uvicorns,
    uvicorn,
    uvicorn_on,
    wait_for_log,
)
from .sockets import Connect, call, closed_with, receive_type

__all__ = [
    "WAIT",
    "ChannelClient",
    "Closed",
    "Connect",
    "Join",
    "RedisServer",
    "Server",
    "app_of",
    "call",
    "client_frame",
    "close_code_on",
    "closed_with",
    "create_token",
    "free_port",
    "health",
    "joiner",
    "open_channel",
    "receive",
    "receive_type",
    "running_redis",
    "serve_command",
    "served_channel",
    "services_of",
    "stalled_client",
    "system_binary",
    "two_uvicorns",
    "uvicorn",
    "uvicorn_on",
    "wait_for_log",
]
