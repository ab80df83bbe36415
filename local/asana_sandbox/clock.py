"""A wall clock tests can move forward, so expiry (tokens, codes, offsets, rate windows) is testable without sleep."""

from __future__ import annotations

import threading
import time


class SandboxClock:
    def __init__(self) -> None:
        self._skew = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return time.time() + self._skew

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._skew += seconds

    def reset(self) -> None:
        with self._lock:
            self._skew = 0.0
