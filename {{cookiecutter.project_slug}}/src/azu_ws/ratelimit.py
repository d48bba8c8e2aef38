"""Token buckets: one for a steady rate with room for a burst, and one per key that outlives
the sockets it counts (a user's messages, a user's or an address's connection attempts);
and a count per key of what is open now (an address's sockets)."""

import time
from typing import Protocol


class MessageLimit(Protocol):
    """A user's messages, limited in this process (KeyedLimit) or across processes."""

    async def take(self, key: str) -> bool: ...

    async def close(self) -> None: ...


class TokenBucket:
    """Allows `rate` events a second on average and up to `burst` at once."""

    __slots__ = ("_tokens", "_updated", "burst", "rate")

    def __init__(self, rate: float, burst: int, now: float | None = None) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._updated = time.monotonic() if now is None else now

    def allow(self, now: float | None = None) -> bool:
        """Take a token if there is one; False means the event is over the limit."""
        now = time.monotonic() if now is None else now
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def full(self, now: float) -> bool:
        """Whether it has refilled: then it is no different from a new bucket."""
        return self._tokens + (now - self._updated) * self.rate >= self.burst


class KeyedLimit:
    """A token bucket per key, kept across the sockets of that key, so that reconnecting
    does not refill it. A bucket that has refilled is forgotten (a new one is the same);
    past `max_keys` the oldest are forgotten first, so memory stays bounded."""

    def __init__(self, per_minute: float, burst: int, *, max_keys: int = 100_000) -> None:
        self.rate = per_minute / 60
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: dict[str, TokenBucket] = {}
        self._next_sweep = 0.0

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            if now >= self._next_sweep or len(self._buckets) >= self.max_keys:
                self._sweep(now)
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, now)
        return bucket.allow(now)

    async def take(self, key: str) -> bool:
        """`allow`, as the shared limit (redis/limit.py) is asked."""
        return self.allow(key)

    async def close(self) -> None:
        """Nothing to release: the shared limit's counterpart."""

    def _sweep(self, now: float) -> None:
        self._buckets = {
            key: bucket for key, bucket in self._buckets.items() if not bucket.full(now)
        }
        while len(self._buckets) >= self.max_keys:
            del self._buckets[next(iter(self._buckets))]
        self._next_sweep = now + 10.0


class KeyedCount:
    """How many of something each key holds now (an address's open sockets). A key back
    at zero is forgotten: memory follows what is open, not who ever came."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def count(self, key: str) -> int:
        return self._counts.get(key, 0)

    def add(self, key: str) -> None:
        self._counts[key] = self._counts.get(key, 0) + 1

    def remove(self, key: str) -> None:
        left = self._counts.get(key, 0) - 1
        if left > 0:
            self._counts[key] = left
        else:
            self._counts.pop(key, None)
