"""One way to open Redis for the broker, presence and the notification store: fail fast.

No command is retried. redis-py's default retries each failed command with
backoff for seconds, holding a sender's message loop while Redis is down, and
a retried RECORD script that had run before its reply was lost would number
one message twice. The pool already replaces a connection that Redis closed
(a restart) before handing it out, so a retry gains nothing there. Connecting
gives up after a second and a reply is awaited five: then the caller's
fallback runs (local delivery, a 503, a stale presence).
"""

from redis import asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


def open_redis(url: str) -> "redis.Redis":
    return redis.Redis.from_url(
        url, socket_connect_timeout=1, socket_timeout=5, retry=Retry(NoBackoff(), retries=0)
    )
