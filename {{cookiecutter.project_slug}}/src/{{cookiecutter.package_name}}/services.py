"""What channels and HTTP routes share: built once per app, in its lifespan."""

from dataclasses import dataclass
from pathlib import Path

from .config import Settings
from .core.broker import broker_from_url
from .core.hub import Hub
from .core.presence import MemoryPresence
from .notifications import Notifier, SqliteNotificationStore
from .updates import UpdatePublisher


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    hub: Hub
    notifier: Notifier
    updates: UpdatePublisher

    @classmethod
    def create(cls, settings: Settings) -> "Services":
        hub = Hub(
            broker_from_url(settings.broker_url),
            MemoryPresence(),
            send_queue_size=settings.ws_send_queue_size,
        )
        store = SqliteNotificationStore(
            Path(settings.database_path),
            max_pending=settings.notification_max_pending,
            ttl_seconds=settings.notification_ttl,
        )
        return cls(settings, hub, Notifier(store, hub), UpdatePublisher(hub))

    async def start(self) -> None:
        await self.hub.start()

    async def stop(self) -> None:
        await self.hub.stop()
        await self.notifier.store.close()
