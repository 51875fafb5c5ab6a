"""What the engine finds registered once every wing is imported (each kind's execution workflow, every due
handler), and the sweep: every handler runs once per tick, one that fails stops no other."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

import workflows.registry  # noqa: F401  (every wing registers its kinds, workflows and due handlers)
from bot.db.models import Request, RequestStatus
from tests.support.runtime import START
from workflows.engine import kinds, sweep
from workflows.engine.durable import REGISTRY
from workflows.engine.sweep import Job


def test_every_kind_is_registered_with_a_durable_execution_workflow() -> None:
    executes = {name: kind.execute_workflow() for name, kind in kinds.KINDS.items()}
    assert executes == {
        "access": "execute_access",
        "key_rotation": "execute_key_rotation",
        "offboarding": "execute_offboarding",
        "it_request": "file_issue",
        "escalation": "file_issue",
    }
    assert set(executes.values()) <= set(REGISTRY)


def test_a_request_is_carried_out_by_its_own_kind_and_an_unknown_kind_by_none() -> None:
    def request(kind: str) -> Request:
        return Request(kind=kind, status=RequestStatus.SUBMITTED, requester_email="", requester_slack_id="", summary="")

    assert kinds.kind_of(request("offboarding")) is kinds.KINDS["offboarding"]
    with pytest.raises(KeyError):
        kinds.kind_of(request("printer_toner"))


def test_every_due_handler_is_registered() -> None:
    assert sweep.handler_names() == [
        "access.expire_grants",
        "access.refresh_group_info",
        "access.warn_grants",
        "approvals.escalate",
        "approvals.expire",
        "approvals.remind",
        "escalation.repage",
        "handover.resend",
        "housekeeping.forget_old_posts",
        "key_rotation.daily_scan",
        "key_rotation.retire_old_keys",
        "people.refresh_roles",
        "triage.retrain",
    ]


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """The sweep with handlers of the test's own (`sweep.due_handler`) and the jobs it starts."""
    monkeypatch.setattr(sweep, "_HANDLERS", {})
    jobs: list[tuple[Any, ...]] = []
    monkeypatch.setattr(
        sweep, "enqueue", lambda workflow, workflow_id, *args: jobs.append((workflow, workflow_id, *args))
    )
    return jobs


def test_each_handler_runs_once_at_the_sweeps_time_and_its_jobs_start(started: list[tuple[Any, ...]]) -> None:
    seen: list[datetime] = []

    @sweep.due_handler("b.reminders")
    def reminders(now: datetime) -> list[Job]:
        seen.append(now)
        return [("remind_approvers", "remind-1-v1", [1]), ("remind_approvers", "remind-2-v3", [2])]

    @sweep.due_handler("a.nothing")
    def nothing(now: datetime) -> list[Job]:
        seen.append(now)
        return []

    assert sweep.run_sweep(START) == {"a.nothing": 0, "b.reminders": 2}
    assert seen == [START, START]  # in name order, each told the sweep's time (the policy clock, not the wall's)
    assert started == [("remind_approvers", "remind-1-v1", 1), ("remind_approvers", "remind-2-v3", 2)]


def test_a_failing_handler_stops_no_other(started: list[tuple[Any, ...]]) -> None:
    @sweep.due_handler("a.broken")
    def broken(now: datetime) -> list[Job]:
        raise RuntimeError("Okta is down")

    @sweep.due_handler("b.expiry")
    def expiry(now: datetime) -> list[Job]:
        return [("request_expired", "expired-4", [4, 2])]

    assert sweep.run_sweep(START + timedelta(days=1)) == {"a.broken": -1, "b.expiry": 1}
    assert started == [("request_expired", "expired-4", 4, 2)]
