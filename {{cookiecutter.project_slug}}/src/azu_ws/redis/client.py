"""One way to open Redis for the broker, presence and the notification store: fail fast, and
never retry a command (a retried RECORD would number a message twice)."""

from redis import asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError
from redis.exceptions import TimeoutError as RedisTimeoutError

# A Redis that is full (`maxmemory`, policy `noeviction`) refuses every write:
# for what is written, as good as away, and handled so (docs/operations.md).
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OutOfMemoryError, OSError)


def open_redis(url: str) -> "redis.Redis":
    return redis.Redis.from_url(
        url, socket_connect_timeout=1, socket_timeout=5, retry=Retry(NoBackoff(), retries=0)
    )
