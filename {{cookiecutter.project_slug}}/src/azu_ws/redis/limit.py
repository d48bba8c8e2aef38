"""A rate limit per key shared by every process through Redis: one token bucket per key,
which each process draws on in small leases so that most frames cost no round trip."""

import logging
import time

from redis.exceptions import RedisError

from ..ratelimit import KeyedLimit
from .client import open_redis
from .keys import limit_key

logger = logging.getLogger(__name__)

# Take up to ARGV[3] tokens from the bucket at KEYS[1] (rate ARGV[1] a millisecond, up to
# ARGV[2]); return how many were granted. Redis's clock, so that processes agree.
TAKE = """
local now_s = redis.call('TIME')
local now = tonumber(now_s[1]) * 1000 + math.floor(tonumber(now_s[2]) / 1000)
local rate, burst, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local granted = math.min(want, math.floor(tokens))
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - granted), 'at', now)
redis.call('PEXPIRE', KEYS[1], string.format('%d', math.min(86400000, burst / rate + 1000)))
return granted
"""
# A lease unused this long is dropped: its tokens are lost, never added back.
LEASE_SECONDS = 1.0
# After Redis failed (unreachable, out of memory, read-only, loading), limits
# stay local this long before Redis is asked again: a hung Redis costs one
# frame a wait, not every frame.
LOCAL_SECONDS = 5.0


class SharedLimit:
    """Like KeyedLimit, but for a key across every process on one Redis: a user who
    spreads their sockets over the workers gets no more than on one.

    A process takes a few tokens at a time (a lease) and spends them locally, so
    the sum over the processes never passes the limit; a lease left unused is
    lost, which errs on the strict side. While Redis is unreachable, each
    process falls back to its own KeyedLimit.
    """

    def __init__(self, url: str, per_minute: float, burst: int) -> None:
        self._redis = open_redis(url)
        self._take = self._redis.register_script(TAKE)
        self._rate_per_ms = per_minute / 60_000
        self._burst = burst
        self._lease = max(1, burst // 10)
        self._leases: dict[str, tuple[int, float]] = {}  # key -> (tokens left, until)
        self._local = KeyedLimit(per_minute, burst)
        self._local_until = 0.0  # while Redis failed lately: this process's own limit

    async def take(self, key: str) -> bool:
        now = time.monotonic()
        left, until = self._leases.get(key, (0, 0.0))
        if left > 0 and now < until:
            self._leases[key] = (left - 1, until)
            return True
        if now < self._local_until:
            return self._local.allow(key)
        try:
            granted = int(
                await self._take(
                    keys=[limit_key(key)],
                    args=[self._rate_per_ms, self._burst, self._lease],
                )
            )
        except (RedisError, OSError) as exc:
            logger.warning("Redis failed (%r): rate limits are this process's for a while", exc)
            self._local_until = time.monotonic() + LOCAL_SECONDS
            return self._local.allow(key)
        # Another frame of this key may have taken a lease meanwhile: add to it.
        now = time.monotonic()
        left, until = self._leases.get(key, (0, 0.0))
        left = (left if now < until else 0) + granted
        if len(self._leases) > 10_000:
            self._leases = {k: v for k, v in self._leases.items() if v[1] > now and v[0] > 0}
        if left < 1:
            return False
        self._leases[key] = (left - 1, now + LEASE_SECONDS)
        return True

    async def close(self) -> None:
        await self._redis.aclose()
