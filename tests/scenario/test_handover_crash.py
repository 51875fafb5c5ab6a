"""A process that dies between committing a click and handing its work to the queue loses nothing: the sweep
sends what was promised in the click's transaction (workflows/engine/handover.py), once, and clears it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.db.engine import Database
from bot.db.models import Handover, Request
from engops.sandbox.stack import Stack
from tests.support.slack_actions import request_access
from workflows.engine import handover, sweep
from workflows.engine.durable import InProcessDispatcher


@contextmanager
def dying_before_hand_over(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The web process commits, then dies before it enqueues: the jobs it would have sent never arrive."""
    lost: list[str] = []
    with monkeypatch.context() as patch:
        patch.setattr(
            InProcessDispatcher, "enqueue", lambda _self, _workflow, workflow_id, *_args: lost.append(workflow_id)
        )
        yield lost


def database(stack: Stack) -> Database:
    assert stack.web is not None
    return stack.web.services.db


def status_of(stack: Stack, request_id: int) -> str:
    with database(stack).session() as session:
        req = session.get(Request, request_id)
        assert req is not None
        return req.status


def promised(stack: Stack) -> list[str]:
    with database(stack).session() as session:
        return sorted(h.workflow_id for h in session.exec(select(Handover)))


def memberships_added(stack: Stack) -> int:
    with stack.okta.lock:
        return sum(1 for call in stack.okta.calls if call.method == "PUT" and "/users/" in call.path)


def sweep_without_grace(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> int:
    """Run the sweep as if the grace period had passed; returns how many hand-overs it sent again."""
    with monkeypatch.context() as patch:
        patch.setattr(handover, "GRACE", timedelta(0))
        done = stack.run_sweep()
    stack.wait_idle()
    return int(done["handover.resend"])


def test_lost_hand_overs_of_a_submit_and_an_approval_are_sent_by_the_sweep_once(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = stack.driver
    assert driver is not None
    with dying_before_hand_over(monkeypatch) as lost:
        request_access(stack, "alice", "aws-sandbox-admins", "4h", "Debugging the staging incident")
    assert lost == ["submit-1"] and status_of(stack, 1) == "submitted"
    assert driver.latest("mona") is None  # nothing was planned, nobody asked

    assert sweep_without_grace(stack, monkeypatch) == 1
    assert "Approve" in driver.labels(driver.latest("mona"))
    assert status_of(stack, 1) == "pending"

    with dying_before_hand_over(monkeypatch) as lost:
        driver.click("mona", "Approve")
        stack.wait_idle()
    assert len(lost) == 1 and lost[0].startswith("decide-1-")  # the click promises its decision (checked live)
    assert driver.latest("erin") is None  # the next approver was never asked

    assert sweep_without_grace(stack, monkeypatch) == 1
    driver.click("erin", "Approve")
    stack.wait_idle()
    assert "alice@example.com" in stack.okta.members("aws-sandbox-admins") and memberships_added(stack) == 1
    assert "Done: alice@example.com is now in aws-sandbox-admins" in driver.dm_text("alice")

    # What the queue knows is cleared, and nothing is sent twice.
    assert sweep_without_grace(stack, monkeypatch) == 0
    assert promised(stack) == []
    assert sweep_without_grace(stack, monkeypatch) == 0


def test_hand_overs_that_arrived_are_only_cleared(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    request_access(stack, "bob", "zoom-users", None, "Customer calls")
    assert "bob@example.com" in stack.okta.members("zoom-users")
    assert promised(stack) == ["submit-1"]
    stack.run_sweep()
    assert promised(stack) == ["submit-1"]  # within the grace period: left for the process that promised it
    assert sweep_without_grace(stack, monkeypatch) == 0
    assert promised(stack) == []
    assert memberships_added(stack) == 1


def test_a_sweep_that_dies_after_marking_leaves_its_jobs_to_the_next_one(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = stack.driver
    assert driver is not None
    request_access(stack, "bob", "zoom-users", "2h", "Customer calls")
    stack.advance(hours=1, minutes=1)
    with monkeypatch.context() as patch:  # the grants are marked "warned", then the sweep dies before starting
        patch.setattr(sweep, "enqueue", lambda *_args: None)
        stack.run_sweep()
    stack.wait_idle()
    assert "Heads-up" not in driver.dm_text("bob")
    assert sweep_without_grace(stack, monkeypatch) == 1
    assert driver.dm_text("bob").count("Heads-up: your access to zoom-users ends") == 1
    sweep_without_grace(stack, monkeypatch)
    assert promised(stack) == []
    assert driver.dm_text("bob").count("Heads-up") == 1
