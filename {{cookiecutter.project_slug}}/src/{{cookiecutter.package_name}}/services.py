"""What channels and HTTP routes share: built once per app, in its lifespan."""

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from .config import Settings
from .core.broker import broker_from_url
from .core.hub import Hub
from .core.presence import MemoryPresence
from .core.watchdog import Watchdog
from .notifications import Notifier, SqliteNotificationStore
from .updates import UpdatePublisher


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
            broker_from_url(settings.broker_url),
            MemoryPresence(),
            send_queue_size=settings.ws_send_queue_size,
            max_topics=settings.ws_max_subscriptions,
        )
        store = SqliteNotificationStore(
            Path(settings.database_path),
            max_pending=settings.notification_max_pending,
            ttl_seconds=settings.notification_ttl,
        )
        watchdog = Watchdog(
            hub, ping_interval=settings.ws_ping_interval, ping_timeout=settings.ws_ping_timeout
        )
        return cls(settings, hub, Notifier(store, hub), UpdatePublisher(hub), watchdog)

    async def start(self) -> None:
        await self.hub.start()
        self._tasks.append(asyncio.create_task(self.watchdog.run(), name="ws-watchdog"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.hub.stop()
        await self.notifier.store.close()
