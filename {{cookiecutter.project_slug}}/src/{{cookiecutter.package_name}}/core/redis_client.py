"""One way to open Redis for the broker, presence and the notification store: fail fast.

redis-py retries a failed command ten times with backoff by default, which
holds a sender's message loop for seconds while Redis is down. Here a
command is retried once (a pooled connection may be stale after a Redis
restart), connecting gives up after a second, and a reply is awaited five:
then the caller's fallback runs (local delivery, a 503, a stale presence).
"""

from redis import asyncio as redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


def open_redis(url: str) -> "redis.Redis":
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=1,
        socket_timeout=5,
        retry=Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.1), retries=1),
    )
