"""Refuses a signed Slack request seen before: the signature covers the timestamp and the body, so
Slack never sends the same one twice (its event retries are signed afresh), but an attacker who
captured a request could replay it within the 5-minute window the signature check allows."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

WINDOW_SECONDS = 300.0


class ReplayGuard:
    def __init__(
        self, window: float = WINDOW_SECONDS, max_entries: int = 200_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._window = window
        self._max = max_entries
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, signature: str) -> bool:
        """True the first time a signature is seen within the window; False for a replay."""
        now = self._clock()
        with self._lock:
            while self._seen:
                oldest, at = next(iter(self._seen.items()))
                if now - at < self._window and len(self._seen) < self._max:
                    break
                self._seen.popitem(last=False)
            if signature in self._seen:
                return False
            self._seen[signature] = now
            return True
