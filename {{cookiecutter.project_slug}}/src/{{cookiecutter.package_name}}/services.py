"""What channels and HTTP routes share: built once per app, in its lifespan."""

import asyncio
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .config import Settings
from .core.broker import broker_from_url
from .core.hub import Hub
from .core.presence import presence_from_url
from .core.tasks import cancel_and_wait
from .core.watchdog import Watchdog
from .notifications import Notifier, store_from_settings
from .updates import UpdatePublisher

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
class Services:
    settings: Settings
    hub: Hub
    notifier: Notifier
    updates: UpdatePublisher
    watchdog: Watchdog
    _tasks: list["asyncio.Task[None]"] = field(default_factory=list)

    @classmethod
    def create(cls, settings: Settings) -> "Services":
        hub = Hub(
            broker_from_url(settings.broker_url, settings.history_limits),
            presence_from_url(settings.broker_url, ttl_seconds=settings.presence_ttl),
            send_queue_size=settings.ws_send_queue_size,
            max_topics=settings.ws_max_subscriptions,
        )
        store = store_from_settings(settings)
        watchdog = Watchdog(
            hub, ping_interval=settings.ws_ping_interval, ping_timeout=settings.ws_ping_timeout
        )
        return cls(settings, hub, Notifier(store, hub), UpdatePublisher(hub), watchdog)

    async def start(self) -> None:
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
        await self.notifier.store.close()
