"""Waits between reconnection attempts: exponential back-off with full jitter, a random wait in
[0, min(cap, base * 2**attempt)) (the "full jitter" of AWS's architecture blog, 2015). Many
clients cut off at once, by a server restart, then come back spread over a window that doubles
with each failed attempt instead of all together; the page does the same (static/js/session.js,
`retryDelay`)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Backoff:
    base: float = 0.5  # seconds: the first window
    cap: float = 30.0  # seconds: the largest window
    attempts: int = 8  # tries in all, the first one without a wait
    random: Callable[[], float] = field(default=random.random, repr=False)

    def window(self, attempt: int) -> float:
        return min(self.cap, self.base * (1 << min(attempt, 32)))

    def delay(self, attempt: int) -> float:
        return self.random() * self.window(attempt)

    def delays(self) -> Iterator[float]:
        """The waits before the second, third, ... attempt."""
        return (self.delay(attempt) for attempt in range(self.attempts - 1))
