"""Test hook: named points in the rotation protocol and in retiring the old key where a test makes the
process 'die' once."""

from __future__ import annotations

import threading


class SimulatedCrash(BaseException):
    """Raised at an armed failpoint. A BaseException, so DBOS records nothing and the workflow stays
    pending, exactly as when the process dies there; the next start of the worker recovers it."""


class Failpoints:
    """Named points in the protocol where a test can make the process 'die' once."""

    def __init__(self) -> None:
        self._armed: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def arm(self, name: str) -> threading.Event:
        """Crash the next time `name` is reached; the event is set when it happened."""
        with self._lock:
            return self._armed.setdefault(name, threading.Event())

    def disarm_all(self) -> None:
        with self._lock:
            self._armed.clear()

    def hit(self, name: str) -> None:
        with self._lock:
            event = self._armed.pop(name, None)
        if event is not None:
            event.set()
            raise SimulatedCrash(name)


FAILPOINTS = Failpoints()
