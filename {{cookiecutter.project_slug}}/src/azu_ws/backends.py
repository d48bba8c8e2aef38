"""The broker, presence, rate limit and notification store a URL names: in memory (or SQLite)
for one process, Redis for many. Redis's modules are imported only when named."""

from pathlib import Path

from .broker import Broker, MemoryBroker
from .formats import CURRENT
from .history import HistoryLimits
from .notifications import NotificationStore, SqliteNotificationStore
from .presence import MemoryPresence, Presence
from .ratelimit import KeyedLimit, MessageLimit

REDIS_SCHEMES = ("redis://", "rediss://")
SQLITE_PREFIX = "sqlite:///"


def broker_from_url(
    url: str, limits: HistoryLimits | None = None, write_format: int = CURRENT
) -> Broker:
    """The broker named by BROKER_URL: `memory://`, or `redis://host:port/db`."""
    limits = limits or HistoryLimits()
    if url.startswith("memory://"):
        return MemoryBroker(limits)
    if url.startswith(REDIS_SCHEMES):
        from .redis.broker import RedisBroker

        return RedisBroker(url, limits, write_format=write_format)
    raise ValueError(f"unsupported BROKER_URL {url!r}")


def presence_from_url(url: str, *, ttl_seconds: float, write_format: int = CURRENT) -> Presence:
    """Presence where the broker is: in memory, or in Redis for a cluster-wide view."""
    if url.startswith(REDIS_SCHEMES):
        from .redis.presence import RedisPresence

        return RedisPresence(url, ttl_seconds=ttl_seconds, write_format=write_format)
    return MemoryPresence()


def message_limit_from_url(url: str, per_minute: float, burst: int) -> MessageLimit:
    """Shared through Redis where the broker is Redis; this process's own otherwise."""
    if url.startswith(REDIS_SCHEMES):
        from .redis.limit import SharedLimit

        return SharedLimit(url, per_minute, burst)
    return KeyedLimit(per_minute, burst)


def open_store(
    url: str, *, max_pending: int, ttl_seconds: float, write_format: int = CURRENT
) -> NotificationStore:
    """The store `url` names: `sqlite:///relative/path`, `sqlite:////absolute`, or `redis://...`;
    in Redis, records are written in `write_format` (REDIS_FORMAT)."""
    if url.startswith(REDIS_SCHEMES):
        from .redis.store import RedisNotificationStore

        return RedisNotificationStore(
            url, max_pending=max_pending, ttl_seconds=ttl_seconds, write_format=write_format
        )
    path = Path(url.removeprefix(SQLITE_PREFIX))
    return SqliteNotificationStore(path, max_pending=max_pending, ttl_seconds=ttl_seconds)
