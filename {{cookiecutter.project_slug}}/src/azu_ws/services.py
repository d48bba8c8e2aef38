"""The runtime's resources (hub, watchdog, limits): built once per app, in its lifespan."""

import asyncio
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .auth import prepare as prepare_token_checks
from .backends import broker_from_url, message_limit_from_url, presence_from_url
from .hub import Hub
from .ratelimit import KeyedCount, KeyedLimit, MessageLimit
from .settings import RuntimeSettings
from .tasks import cancel_and_wait
from .watchdog import Watchdog

logger = logging.getLogger(__name__)


def worker_count(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    """How many workers uvicorn was asked for: `--workers N` (seen by every worker), or
    WEB_CONCURRENCY, as uvicorn reads them."""
    for position, argument in enumerate(argv):
        value = None
        if argument == "--workers" and position + 1 < len(argv):
            value = argv[position + 1]
        elif argument.startswith("--workers="):
            value = argument.partition("=")[2]
        if value is not None:
            return int(value) if value.isdigit() else 1
    concurrency = environ.get("WEB_CONCURRENCY", "1")
    return int(concurrency) if concurrency.isdigit() else 1


@dataclass(frozen=True, slots=True)
class Limits:
    """Rate limits of this process that outlive a socket, and the sockets open per address
    (docs/settings.md)."""

    messages: MessageLimit  # frames per user, across their sockets (and workers, with Redis)
    attempts_per_user: KeyedLimit  # handshakes with a valid token, per user
    attempts_per_address: KeyedLimit  # handshakes per client address, token or not
    # Sockets admitted per client address and not yet ended (WS_MAX_CONNECTIONS_PER_ADDRESS).
    sockets_per_address: KeyedCount = field(default_factory=KeyedCount)

    @classmethod
    def from_settings(cls, settings: RuntimeSettings) -> "Limits":
        return cls(
            message_limit_from_url(
                settings.broker_url, settings.ws_rate_limit, settings.ws_rate_burst
            ),
            KeyedLimit(settings.ws_connect_rate, settings.ws_connect_burst),
            KeyedLimit(settings.ws_connect_rate_per_address, settings.ws_connect_burst_per_address),
        )


@dataclass(frozen=True, slots=True)
class Services:
    settings: RuntimeSettings
    hub: Hub
    watchdog: Watchdog
    limits: Limits
    _tasks: list["asyncio.Task[None]"] = field(default_factory=list)

    @classmethod
    def create(cls, settings: RuntimeSettings) -> "Services":
        hub = Hub(
            broker_from_url(settings.broker_url, settings.history_limits, settings.redis_format),
            presence_from_url(
                settings.broker_url,
                ttl_seconds=settings.presence_ttl,
                write_format=settings.redis_format,
            ),
            send_queue_size=settings.ws_send_queue_size,
            send_queue_bytes=settings.ws_send_queue_bytes,
            max_topics=settings.ws_max_subscriptions,
            batched=settings.ws_batched_writes,
            write_format=settings.redis_format,
        )
        watchdog = Watchdog(
            hub, ping_interval=settings.ws_ping_interval, ping_timeout=settings.ws_ping_timeout
        )
        limits = Limits.from_settings(settings)
        return cls(settings, hub, watchdog, limits)

    async def start(self) -> None:
        prepare_token_checks(self.settings)
        workers = worker_count(sys.argv, os.environ)
        if workers > 1 and self.settings.broker_url.startswith("memory://"):
            logger.warning(
                "%d workers with BROKER_URL=memory://: each worker is its own island, "
                "broadcasts, presence and revocations do not cross workers. "
                "Set BROKER_URL=redis://... to run more than one.",
                workers,
            )
        await self.hub.start()
        self._tasks.append(asyncio.create_task(self.watchdog.run(), name="ws-watchdog"))

    async def stop(self) -> None:
        for task in self._tasks:
            await cancel_and_wait(task)
        await self.hub.stop()
        await self.limits.messages.close()
