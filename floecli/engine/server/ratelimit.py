"""Exponential backoff of failed attempts per key (a user name, a client address), bounded."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Record:
    failures: int = 0
    last: float = 0.0
    allowed_at: float = 0.0


class Backoff:
    """`free` failures are allowed back to back; each further one doubles the wait before the
    next attempt (from `base` up to `cap` seconds). A key quiet for `forget` seconds starts
    over; at most `max_keys` keys are remembered, the least recently failed dropped first."""

    def __init__(self, *, free: int, base: float = 1.0, cap: float = 300.0,
                 forget: float = 900.0, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free = free
        self.base = base
        self.cap = cap
        self.forget = forget
        self.max_keys = max_keys
        self.clock = clock
        self._keys: OrderedDict[str, _Record] = OrderedDict()

    def _get(self, key: str) -> _Record | None:
        record = self._keys.get(key)
        if record is not None and self.clock() - record.last > self.forget:
            del self._keys[key]
            return None
        return record

    def wait(self, key: str) -> float:
        """Seconds before `key` may try again; 0 when it may now."""
        record = self._get(key)
        return max(0.0, record.allowed_at - self.clock()) if record is not None else 0.0

    def failed(self, key: str) -> None:
        now = self.clock()
        record = self._get(key) or _Record()
        record.failures += 1
        record.last = now
        if record.failures >= self.free:
            record.allowed_at = now + min(self.cap,
                                          self.base * 2.0 ** min(record.failures - self.free, 30))
        self._keys[key] = record
        self._keys.move_to_end(key)
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)

    def succeeded(self, key: str) -> None:
        self._keys.pop(key, None)
