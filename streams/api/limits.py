"""Per-key rate limit (token buckets) and the desks' idempotency memory. Process memory:
each api replica limits and remembers on its own (docs/api.md)."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["IdempotencyMemory", "TokenBuckets"]


class TokenBuckets:
    """One bucket per key: ``burst`` tokens, refilled at ``rate`` per second."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate, self.burst, self.clock = rate, float(burst), clock
        self.buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str) -> int:
        """0 when the request may go, else the whole seconds to wait (Retry-After)."""
        now = self.clock()
        tokens, at = self.buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens >= 1.0:
            self.buckets[key] = (tokens - 1.0, now)
            return 0
        self.buckets[key] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) / self.rate))


IN_FLIGHT = object()  # a request with this key is being processed


class IdempotencyMemory:
    """The answer given to each (key id, Idempotency-Key), least recently used dropped first,
    with the fingerprint of the request it answered (the same key for another request is an
    error, not a replay)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.entries: OrderedDict[Hashable, tuple[bytes, Any]] = OrderedDict()

    def get(self, key: Hashable) -> tuple[bytes, Any] | None:
        found = self.entries.get(key)
        if found is not None:
            self.entries.move_to_end(key)
        return found

    def put(self, key: Hashable, fingerprint: bytes, answer: Any) -> None:
        self.entries[key] = (fingerprint, answer)
        self.entries.move_to_end(key)
        while len(self.entries) > self.capacity:
            self.entries.popitem(last=False)

    def forget(self, key: Hashable) -> None:
        self.entries.pop(key, None)
