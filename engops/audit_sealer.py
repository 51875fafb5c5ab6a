"""The worker's audit sealer: chains what audited changes left in the inbox, a moment after they commit."""

from __future__ import annotations

import logging
import threading

from bot import audit
from bot.db.engine import Database

log = logging.getLogger(__name__)

SEAL_EVERY = 0.5  # seconds: how long an entry may wait unchained while a worker runs


class AuditSealer:
    def __init__(self, database_url: str, every: float = SEAL_EVERY) -> None:
        self._db = Database(database_url)
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-sealer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Seal once more, so what this process wrote is chained when it exits."""
        self._stop.set()
        self._thread.join(timeout=10)
        self._seal()
        self._db.dispose()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self._seal()

    def _seal(self) -> None:
        try:
            audit.seal(self._db)
        except Exception:  # a database that is down for a moment is sealed after it is back
            log.warning("audit sealing failed; will try again", exc_info=True)
