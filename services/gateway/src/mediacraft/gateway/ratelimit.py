"""Token-bucket rate limits keyed by identity or client IP, in bounded memory, per replica."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    """`rate` tokens per second up to `burst`, one bucket per key; least recently used keys go.

    Evicting a bucket forgets its debt, so the bound must be far above the number of clients
    active within one refill period; a forgotten key simply starts with a full bucket.
    """

    def __init__(self, rate: float, burst: int, *, now: Callable[[], float], max_keys: int = 100_000) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = float(burst)
        self._now = now
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def acquire(self, key: str, cost: float = 1.0) -> float:
        """Take `cost` tokens; 0.0 when allowed, else the seconds to wait before retrying."""
        now = self._now()
        tokens, at = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + max(0.0, now - at) * self.rate)
        if tokens >= cost:
            self._store(key, tokens - cost, now)
            return 0.0
        self._store(key, tokens, now)
        return (cost - tokens) / self.rate

    def peek(self, key: str, cost: float = 1.0) -> float:
        """Like acquire, without taking anything: the wait that acquire would answer."""
        now = self._now()
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + max(0.0, now - at) * self.rate)
        return 0.0 if tokens >= cost else (cost - tokens) / self.rate

    def _store(self, key: str, tokens: float, at: float) -> None:
        self._buckets[key] = (tokens, at)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after(seconds: float) -> str:
    """The Retry-After header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
