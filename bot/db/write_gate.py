"""One SQLite writer at a time per process, queued in order, with Slack's ack path served first.

SQLite has one write lock per database, and a connection that finds it taken sleeps and polls (the busy
handler) instead of queueing: under a burst, a writer can lose that race again and again for seconds. The
web process with its in-process worker has dozens of threads writing (DBOS records every step), and the
ack path must answer Slack within 3 s. So every SQLite write transaction in this process first takes its
turn here: waiting writers are woken in order, and those marked `urgent` (the threads answering Slack) go
before the rest. Other processes on the same file still meet SQLite's own lock, as before.

Hooked into SQLAlchemy's events for every engine on a SQLite file: our own engine (which begins every
transaction with BEGIN IMMEDIATE) takes its turn at `begin`; DBOS's engine (which begins at its first write)
takes it just before that write. The turn ends at commit or rollback, or when the connection goes back to
the pool, whichever comes first; a turn not granted in time is skipped (SQLite's lock still protects the
data) rather than risking a process-wide stall.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import Pool

log = logging.getLogger(__name__)

HELD = "engops_write_turn"
URGENT_WAIT = 3.0  # Slack gives up after 3 s; past that, SQLite's own busy timeout decides
PATIENT_WAIT = 60.0
_WRITES = ("insert", "update", "delete", "replace", "begin immediate", "begin exclusive")

_local = threading.local()


@contextmanager
def urgent() -> Iterator[None]:
    """Writes started by this thread inside the block go before any other waiting writer."""
    before = getattr(_local, "urgent", False)
    _local.urgent = True
    try:
        yield
    finally:
        _local.urgent = before


def is_urgent() -> bool:
    return bool(getattr(_local, "urgent", False))


class WriteGate:
    """A fair, re-entrant (per thread) turn to write, with two lanes."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._holder: int | None = None
        self._depth = 0
        self._lanes: tuple[deque[object], deque[object]] = (deque(), deque())  # urgent, patient

    def acquire(self, *, urgent: bool, timeout: float) -> bool:
        me = threading.get_ident()
        with self._cond:
            if self._holder == me:
                self._depth += 1
                return True
            ticket = object()
            lane = self._lanes[0 if urgent else 1]
            lane.append(ticket)
            granted = self._cond.wait_for(lambda: self._holder is None and self._next() is ticket, timeout)
            if not granted:
                lane.remove(ticket)
                self._cond.notify_all()  # the next in line may be the one behind this ticket
                return False
            lane.popleft()
            self._holder, self._depth = me, 1
            return True

    def release(self) -> None:
        """Give back one turn (from any thread: a connection can be returned to the pool elsewhere)."""
        with self._cond:
            if self._holder is None:
                return
            self._depth -= 1
            if self._depth == 0:
                self._holder = None
                self._cond.notify_all()

    def _next(self) -> object | None:
        for lane in self._lanes:
            if lane:
                return lane[0]
        return None


_gates: dict[str, WriteGate] = {}
_gates_lock = threading.Lock()


def gate_for(database: str) -> WriteGate:
    with _gates_lock:
        return _gates.setdefault(database, WriteGate())


def _gated(engine: Engine) -> str | None:
    """The database file this engine writes to, if it is SQLite (in-memory databases have no rivals)."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return os.path.realpath(url.database)  # one gate per file, however each engine spells its path


def take_turn(conn: Connection, budget: float | None = None) -> float:
    """Wait for this connection's turn to write (no-op when it already has it, or for other databases), at most
    `budget` seconds (default: by lane). Returns the seconds waited, for the caller to wait that much less for
    SQLite's own lock: a turn holder may itself be stuck on a lock another process holds."""
    database = _gated(conn.engine)
    if database is None or conn.info.get(HELD):
        return 0.0
    hurry = is_urgent()
    started = time.monotonic()
    if budget is None:
        budget = URGENT_WAIT if hurry else PATIENT_WAIT
    if gate_for(database).acquire(urgent=hurry, timeout=budget):
        conn.info[HELD] = database
    else:
        log.warning("no turn to write to %s in %.1f s; relying on SQLite's lock", database, budget)
    return time.monotonic() - started


def _end_turn(info: dict[str, Any]) -> None:
    database = info.pop(HELD, None)
    if database is not None:
        gate_for(database).release()


def end_turn(conn: Connection) -> None:
    _end_turn(conn.info)


def _before_execute(conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
    if conn.engine in _turn_at_begin or conn.info.get(HELD):
        return  # it took its turn (or gave up waiting for one) when its transaction began
    if statement.lstrip()[:16].lower().startswith(_WRITES):
        take_turn(conn)


def _returned_to_pool(_dbapi_conn: Any, record: Any) -> None:
    _end_turn(record.info)


_installed = False
_turn_at_begin: weakref.WeakSet[Engine] = weakref.WeakSet()


def install(turn_at_begin: Engine | None = None) -> None:
    """Hook every engine in this process (idempotent). `turn_at_begin`: an engine that calls `take_turn` itself
    when a transaction begins; the others take their turn at their first write."""
    global _installed
    with _gates_lock:
        if turn_at_begin is not None:
            _turn_at_begin.add(turn_at_begin)
        if _installed:
            return
        _installed = True
    event.listen(Engine, "before_cursor_execute", _before_execute)
    event.listen(Engine, "commit", end_turn)
    event.listen(Engine, "rollback", end_turn)
    event.listen(Pool, "checkin", _returned_to_pool)
    event.listen(Pool, "invalidate", lambda _c, record, _e: _end_turn(record.info))
