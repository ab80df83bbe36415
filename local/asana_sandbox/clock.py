"""A wall clock tests can move forward or speed up, so expiry (tokens, codes, offsets, rate windows) and webhook timing
(heartbeats every 8 h, retries, deletion after 24 h) are testable without sleeping.

`advance(seconds)` jumps; `set_speed(factor)` makes sandbox time run `factor` times faster than real time from now on
(e.g. 3600: an hour per second, so a background dispatcher sends 8-hourly heartbeats every 8 real seconds). Both
only ever move time forward; `reset()` returns to real time.
"""

from __future__ import annotations

import threading
import time


class SandboxClock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def now(self) -> float:
        with self._lock:
            return self._now_locked()

    def _now_locked(self) -> float:
        return self._anchor_sandbox + (time.time() - self._anchor_real) * self._speed

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._anchor_sandbox += seconds

    @property
    def speed(self) -> float:
        return self._speed

    def set_speed(self, factor: float) -> None:
        """From now on, sandbox time passes `factor` times as fast as real time (1: real time)."""
        if factor < 1:
            raise ValueError("speed must be at least 1 (the sandbox clock never slows below real time)")
        with self._lock:
            # Re-anchor first, so the time already elapsed keeps the old speed and "now" does not jump.
            self._anchor_sandbox = self._now_locked()
            self._anchor_real = time.time()
            self._speed = float(factor)

    def reset(self) -> None:
        """Back to real time and real speed."""
        with self._lock:
            self._anchor_real = time.time()
            self._anchor_sandbox = self._anchor_real
            self._speed = 1.0
