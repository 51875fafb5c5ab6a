"""The per-process SQLite write gate: writers in order, the ack path first, no turn ever lost."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from bot.db import write_gate
from bot.db.engine import Database
from bot.db.write_gate import WriteGate


def wait_until(check: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.005)
    raise AssertionError("condition not met")


def queue_up(gate: WriteGate, order: list[str], name: str, *, urgent: bool) -> threading.Thread:
    def run() -> None:
        assert gate.acquire(urgent=urgent, timeout=5)
        order.append(name)
        gate.release()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_waiting_writers_go_in_order_with_the_urgent_lane_first() -> None:
    gate = WriteGate()
    assert gate.acquire(urgent=False, timeout=1)
    order: list[str] = []
    threads = []
    for name, urgent in [("worker-1", False), ("worker-2", False), ("slack-1", True), ("slack-2", True)]:
        threads.append(queue_up(gate, order, name, urgent=urgent))
        wait_until(lambda n=len(threads): sum(len(lane) for lane in gate._lanes) == n)
    gate.release()
    for thread in threads:
        thread.join(5)
    assert order == ["slack-1", "slack-2", "worker-1", "worker-2"]


def test_a_turn_not_granted_in_time_is_skipped_and_does_not_block_the_next() -> None:
    gate = WriteGate()
    assert gate.acquire(urgent=False, timeout=1)
    got: list[bool] = []
    late = threading.Thread(target=lambda: got.append(gate.acquire(urgent=True, timeout=0.05)))
    late.start()
    late.join(5)
    assert got == [False]
    order: list[str] = []
    waiting = queue_up(gate, order, "next", urgent=False)
    wait_until(lambda: len(gate._lanes[1]) == 1)
    gate.release()
    waiting.join(5)
    assert order == ["next"]


def test_the_holder_may_take_a_second_turn_and_another_thread_may_give_it_back() -> None:
    gate = WriteGate()
    assert gate.acquire(urgent=False, timeout=1)
    assert gate.acquire(urgent=False, timeout=0.01)  # re-entrant for the same thread
    gate.release()
    other = threading.Thread(target=gate.release)  # e.g. a connection checked in by another thread
    other.start()
    other.join(5)
    got: list[bool] = []
    taker = threading.Thread(target=lambda: got.append(gate.acquire(urgent=False, timeout=1)))
    taker.start()
    taker.join(5)
    assert got == [True]


def test_sessions_and_raw_writes_on_a_sqlite_file_hold_a_turn_only_while_their_transaction_lasts(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'gate.db'}")
    other = create_engine(f"sqlite:///{tmp_path / 'gate.db'}")  # like DBOS's: begins at its first write
    gate = write_gate.gate_for(os.path.realpath(tmp_path / "gate.db"))
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    with db.session() as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
        assert gate._holder == threading.get_ident()
    assert gate._holder is None
    raw = other.raw_connection()  # no SQLAlchemy transaction events: the pool's checkin ends the turn
    raw.close()
    with other.connect() as conn:
        conn.execute(text("SELECT count(*) FROM t"))
        assert gate._holder is None  # reading takes no turn
        conn.execute(text("UPDATE t SET x = 2"))
        assert gate._holder == threading.get_ident()
        conn.rollback()
    assert gate._holder is None
    with other.connect() as conn:
        conn.execute(text("DELETE FROM t"))
    assert gate._holder is None  # returned to the pool without a commit: the turn ends there
    db.dispose()
    other.dispose()
