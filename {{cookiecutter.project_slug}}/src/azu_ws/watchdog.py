"""The watchdog: closes connections whose peer went quiet, or whose token ran out.

Heartbeats are the app's own, so they work whichever websocket implementation
uvicorn uses: after WS_PING_INTERVAL seconds without a frame from the client
the server sends `{"type": "heartbeat"}`; a client that then sends nothing for
WS_PING_TIMEOUT more seconds is dropped with 4408, and leaves its rooms. Any
frame counts as an answer (a `ping` is the natural one).

A connection whose token expires is closed with 4401, unless the client sent
a fresh one in band (`{"type": "auth", "token": ...}`) before then.

One task sweeps every connection a few times a second: cheaper than a timer
per socket, and as precise as either needs.
"""

import asyncio
import logging
import time

from .close_codes import WS_4401_UNAUTHORIZED, WS_4408_HEARTBEAT_TIMEOUT
from .hub import Hub
from .messages import Heartbeat

logger = logging.getLogger(__name__)

HEARTBEAT = Heartbeat().model_dump_json()


class Watchdog:
    """Sweeps the hub's connections for silence and expired tokens."""

    def __init__(self, hub: Hub, *, ping_interval: float, ping_timeout: float) -> None:
        self.hub = hub
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.tick = min(1.0, max(0.05, min(ping_interval, ping_timeout) / 4))

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            self.sweep(time.monotonic(), time.time())

    def sweep(self, now: float, wall_clock: float) -> None:
        """Heartbeat the quiet, drop the silent, close the expired."""
        for connection in list(self.hub.connections):
            if connection.closing:
                continue
            if connection.expires_at is not None and wall_clock >= connection.expires_at:
                connection.request_close(WS_4401_UNAUTHORIZED, "token expired")
                continue
            silent = now - connection.last_seen
            if silent >= self.ping_interval + self.ping_timeout:
                logger.info("%r did not answer a heartbeat: dropping it", connection)
                connection.drop(WS_4408_HEARTBEAT_TIMEOUT, "Heartbeat timeout")
            elif silent >= self.ping_interval and not connection.heartbeat_sent:
                connection.heartbeat_sent = True
                connection.send_frame(HEARTBEAT)
