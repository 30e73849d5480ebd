"""Test doubles shared by the HTTP and source tests."""

from __future__ import annotations

import threading


class FakeClock:
    """Monotonic time that moves only when someone sleeps; every sleep is recorded.

    Give `clock` and `sleep` to HttpClient and RateLimiter so that retries and pacing are
    exercised without any real waiting. Thread-safe, for the fetchers' worker threads.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds
