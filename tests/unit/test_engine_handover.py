"""The hand-over outbox: a job is promised in the transaction of the change it follows, sent once that commits,
and the sweep re-sends what the queue never got (clearing only what the queue knows)."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlmodel import select

from bot.db.engine import Database
from bot.db.models import Handover
from bot.db.types import utcnow
from tests.support.runtime import Queue
from workflows.engine import handover
from workflows.engine.handover import GRACE, deliver, promise, resend_due
from workflows.engine.runtime import Runtime


def outbox(db: Database) -> dict[str, tuple[str, list[Any]]]:
    with db.session() as session:
        return {h.workflow_id: (h.workflow, list(h.args)) for h in session.exec(select(Handover))}


def test_a_promise_is_kept_with_the_change_it_follows(db: Database) -> None:
    with db.session() as session:
        job = promise(session, "submit_request", "submit-7", 7)
    assert job == ("submit_request", "submit-7", [7])
    assert outbox(db) == {"submit-7": ("submit_request", [7])}


def test_a_change_rolled_back_takes_its_promise_with_it(db: Database) -> None:
    with pytest.raises(RuntimeError), db.session() as session:
        promise(session, "submit_request", "submit-7", 7)
        raise RuntimeError("the change failed")
    assert outbox(db) == {}


def test_promising_the_same_job_twice_keeps_one(db: Database) -> None:
    for _ in range(2):
        with db.session() as session:
            promise(session, "decide_request", "decide-1-k1", 1, "U-mona", True)
    assert outbox(db) == {"decide-1-k1": ("decide_request", [1, "U-mona", True])}


def test_deliver_sends_each_job_in_order() -> None:
    queue = Queue()
    deliver(queue, ("execute_access", "execute-1-2", [1, 2]), ("request_changed", "changed-1-v2", [1, 2]))
    assert queue.jobs == [("execute_access", "execute-1-2", 1, 2), ("request_changed", "changed-1-v2", 1, 2)]


@pytest.fixture
def queue_knows(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The workflow ids the durable queue has (DBOS.list_workflows, as `resend_due` asks it)."""
    known: set[str] = set()

    class DBOS:
        @staticmethod
        def list_workflows(workflow_ids: list[str], **_: Any) -> list[Any]:
            return [SimpleNamespace(workflow_id=i) for i in workflow_ids if i in known]

    monkeypatch.setattr(handover, "DBOS", DBOS)
    return known


def promised_at(db: Database, workflow_id: str, age: timedelta) -> None:
    with db.session() as session:
        session.add(Handover(workflow_id=workflow_id, workflow="submit_request", args=[1], created_at=utcnow() - age))


def test_the_sweep_resends_what_the_queue_never_got_and_clears_what_it_has(rt: Runtime, queue_knows: set[str]) -> None:
    old = GRACE + timedelta(seconds=5)
    promised_at(rt.db, "submit-1", old)  # its process died before sending it
    promised_at(rt.db, "submit-2", old)  # sent, but the row outlived the send
    promised_at(rt.db, "submit-3", timedelta(seconds=1))  # its process is sending it right now
    queue_knows.update({"submit-2", "submit-3"})
    assert resend_due(rt.clock.now()) == [("submit_request", "submit-1", [1])]
    assert sorted(outbox(rt.db)) == ["submit-1", "submit-3"]  # cleared only once the queue knows it


def test_a_resent_job_is_cleared_by_the_next_sweep_once_queued(rt: Runtime, queue_knows: set[str]) -> None:
    promised_at(rt.db, "submit-1", GRACE + timedelta(seconds=5))
    assert resend_due(rt.clock.now()) == [("submit_request", "submit-1", [1])]
    queue_knows.add("submit-1")
    assert resend_due(rt.clock.now()) == []
    assert outbox(rt.db) == {}
