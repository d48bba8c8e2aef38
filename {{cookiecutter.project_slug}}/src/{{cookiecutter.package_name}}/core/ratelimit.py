"""A token bucket per connection: a steady rate with room for a burst."""

import time


class TokenBucket:
    """Allows `rate` events a second on average and up to `burst` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._updated = time.monotonic()

    def allow(self) -> bool:
        """Take a token if there is one; False means the event is over the limit."""
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False
