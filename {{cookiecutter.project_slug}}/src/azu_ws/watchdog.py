"""The watchdog: one task that closes sockets whose peer went quiet (4408) or whose token ran
out (4401) (docs/ARCHITECTURE.md, Heartbeats)."""

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
                connection.close(WS_4401_UNAUTHORIZED, "token expired")
                continue
            silent = now - connection.last_seen
            if silent >= self.ping_interval + self.ping_timeout:
                logger.info("%r did not answer a heartbeat: dropping it", connection)
                connection.close(WS_4408_HEARTBEAT_TIMEOUT, "Heartbeat timeout", abandon_queue=True)
            elif silent >= self.ping_interval and not connection.heartbeat_sent:
                connection.heartbeat_sent = True
                connection.send_frame(HEARTBEAT)
