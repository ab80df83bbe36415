"""Asana's per-token request budget: N requests per rolling minute, rejected requests included.

Asana evaluates its window more often than once a minute; a rolling 60-second window is the simplest model of that.
Retry-After is the number of whole seconds until the oldest counted request leaves the window.

Not modelled: Asana's concurrent limits (50 in-flight GETs, 15 writes) and its cost-based quota. Tests that need a 429
for those reasons use the forced rate-limit switch (faults.py).
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import deque
from collections.abc import Callable

DEFAULT_REQUESTS_PER_MINUTE = 1500
WINDOW_SECONDS = 60.0


class RateLimiter:
    def __init__(self, clock: Callable[[], float], per_minute: int = DEFAULT_REQUESTS_PER_MINUTE) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, deque[float]] = {}
        self.per_minute = per_minute

    def hit(self, token: str) -> int | None:
        """Count one request for the token; return Retry-After seconds if it is over budget, else None."""
        # Keyed by a digest so the limiter never holds the token itself.
        key = hashlib.sha256(token.encode()).hexdigest()
        now = self._clock()
        with self._lock:
            window = self._windows.setdefault(key, deque())
            while window and window[0] <= now - WINDOW_SECONDS:
                window.popleft()
            window.append(now)
            if len(window) <= self.per_minute:
                return None
            return max(1, math.ceil(window[0] + WINDOW_SECONDS - now))

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
