"""A sliding window of the most recent observations of one served model (thread-safe)."""

from __future__ import annotations

import threading
from collections import deque

from tuneforge.monitoring.profile import Observation


class SlidingWindow:
    """The last `size` observations; older ones fall out as new ones arrive.

    Appended from the inference worker threads and read by the monitoring endpoint, hence the lock.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"window size must be at least 1, got {size}")
        self.size = size
        self._items: deque[Observation] = deque(maxlen=size)
        self._lock = threading.Lock()
        self._total = 0

    def extend(self, observations: list[Observation]) -> None:
        with self._lock:
            self._items.extend(observations)
            self._total += len(observations)

    def snapshot(self) -> list[Observation]:
        """A copy of the current window, oldest first."""
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    @property
    def total_seen(self) -> int:
        """Observations appended since the window was made (including those that fell out)."""
        with self._lock:
            return self._total

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
