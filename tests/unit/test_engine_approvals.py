"""The approval state machine on a real database, without Slack, providers or DBOS: who may decide a step, what
a decision does to the request, the compare-and-set that lets one of two concurrent decisions through, Retry,
and what the sweep finds due."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from sqlmodel import col, select

from bot import audit
from bot.db.details import RequestDetails, details_of
from bot.db.engine import Database
from bot.db.models import ApprovalStep, AuditEntry, Handover, Person, Request, RequestStatus
from bot.db.queries import request_with_steps
from tests.support.runtime import START, Queue
from workflows.engine import approvals, kinds
from workflows.engine.approvals import NewRequest
from workflows.engine.runtime import Runtime

ADMINS = {"grace@example.com": "U-grace", "heidi@example.com": "U-heidi"}  # role:it-admins of the example policy


@pytest.fixture(autouse=True)
def directory(rt: Runtime) -> None:
    """The Slack ids of everyone who clicks (the person cache a resolved click leaves behind)."""
    with rt.db.session() as session:
        for handle in ("alice", "mona", "oscar", "erin", "carol", "grace"):
            session.add(Person(slack_id=f"U-{handle}", email=f"{handle}@example.com", name=handle))


def pending(db: Database, *steps: tuple[str, list[str]], status: RequestStatus = RequestStatus.PENDING) -> int:
    """alice's access request, waiting on the first of `steps` (spec, approver handles); the rest wait their turn."""
    with db.session() as session:
        req = Request(
            kind="access",
            status=status,
            requester_email="alice@example.com",
            requester_slack_id="U-alice",
            summary="aws-sandbox-admins for 4h",
            details={"step_specs": [spec for spec, _ in steps], "owners": ["erin@example.com"]},
            version=1,
            expires_at=START + timedelta(days=7),
            remind_at=START + timedelta(hours=4),
            escalate_at=START + timedelta(hours=24),
        )
        session.add(req)
        session.flush()
        assert req.id is not None
        for position, (spec, handles) in enumerate(steps):
            session.add(
                ApprovalStep(
                    request_id=req.id,
                    position=position,
                    spec=spec,
                    approver_emails=[f"{h}@example.com" for h in handles],
                    approver_slack_ids=[f"U-{h}" for h in handles],
                    status="pending" if position == 0 and status == RequestStatus.PENDING else "waiting",
                )
            )
        return req.id


def load(db: Database, request_id: int) -> tuple[Request, list[ApprovalStep]]:
    with db.session() as session:
        found = request_with_steps(session, request_id)
    assert found is not None
    return found


def live(position: int, *handles: str) -> dict[str, Any]:
    """What the decide workflow resolved again at click time: the step and its approvers."""
    return {"position": position, "approvers": [f"{h}@example.com" for h in handles], "admins": ADMINS}


def promised(db: Database) -> list[str]:
    with db.session() as session:
        return sorted(h.workflow_id for h in session.exec(select(Handover)))


def audit_actions(db: Database, request_id: int) -> list[str]:
    audit.seal(db, wait=True)
    with db.session() as session:
        query = select(AuditEntry.action).where(AuditEntry.request_id == request_id).order_by(col(AuditEntry.seq))
        return list(session.exec(query))


TWO_STEPS = (("manager", ["mona"]), ("owners", ["erin"]))


# --- recording a decision ---------------------------------------------------------------------------------------------
def test_approving_the_first_step_opens_the_next_and_restarts_its_timers(rt: Runtime) -> None:
    ref = pending(rt.db, *TWO_STEPS)
    now = START + timedelta(hours=1)
    assert approvals._record(ref, "U-mona", True, None, live(0, "mona"), "c1", now) == (True, f"Approved REQ-{ref}.", 2)
    req, (first, second) = load(rt.db, ref)
    assert (first.status, first.decided_by_email, first.decided_at) == ("approved", "mona@example.com", now)
    assert (second.status, second.approver_emails) == ("pending", ["erin@example.com"])
    assert (req.status, req.version, req.decided_by_email) == ("pending", 2, "mona@example.com")
    assert (req.remind_at, req.escalate_at) == (now + timedelta(hours=4), now + timedelta(hours=24))
    assert promised(rt.db) == [f"changed-{ref}-v2"]  # the cards follow, even if this process dies now
    assert audit_actions(rt.db, ref) == ["request.approved_step"]


def test_approving_the_last_step_approves_the_request_and_stops_its_timers(rt: Runtime) -> None:
    ref = pending(rt.db, ("owners", ["erin"]))
    assert approvals._record(ref, "U-erin", True, None, live(0, "erin"), "c1", START)[0]
    req, (step,) = load(rt.db, ref)
    assert (req.status, step.status, req.decided_by_email) == ("approved", "approved", "erin@example.com")
    assert (req.remind_at, req.escalate_at, req.expires_at) == (None, None, None)


def test_a_denial_ends_the_request_with_its_reason_and_the_next_step_never_opens(rt: Runtime) -> None:
    ref = pending(rt.db, *TWO_STEPS)
    assert approvals._record(ref, "U-mona", False, "Not this quarter", live(0, "mona"), "c1", START) == (
        True,
        f"Denied REQ-{ref}.",
        2,
    )
    req, (first, second) = load(rt.db, ref)
    assert (req.status, req.deny_reason, first.status, second.status) == (
        "denied",
        "Not this quarter",
        "denied",
        "waiting",
    )
    assert audit_actions(rt.db, ref) == ["request.denied"]


def test_whoever_passed_a_step_is_not_an_approver_of_the_next_and_it_falls_back_to_it_admins(rt: Runtime) -> None:
    ref = pending(rt.db, ("manager", ["mona"]), ("owners", ["mona"]))  # mona manages alice and owns the group
    approvals._record(ref, "U-mona", True, None, live(0, "mona"), "c1", START)
    _, (_, second) = load(rt.db, ref)
    assert second.spec == "owners → it-admins"
    assert (second.approver_emails, second.approver_slack_ids) == (list(ADMINS), list(ADMINS.values()))
    assert approvals._record(ref, "U-mona", True, None, live(1, "mona"), "c2", START)[0] is False


def test_the_live_approvers_decide_not_the_stored_ones(rt: Runtime) -> None:
    """A manager changed since the request was made: the stored approver no longer counts, the new one does."""
    ref = pending(rt.db, *TWO_STEPS)
    recorded, message, _ = approvals._record(ref, "U-mona", True, None, live(0, "oscar"), "c1", START)
    assert not recorded and "not an approver" in message
    assert load(rt.db, ref)[0].version == 1
    assert approvals._record(ref, "U-oscar", True, None, live(0, "oscar"), "c2", START)[0]


def test_a_click_checked_against_a_step_that_has_since_moved_on_changes_nothing(rt: Runtime) -> None:
    ref = pending(rt.db, *TWO_STEPS)
    approvals._record(ref, "U-mona", True, None, live(0, "mona"), "c1", START)
    recorded, message, _ = approvals._record(ref, "U-erin", True, None, live(0, "mona", "erin"), "c2", START)
    assert not recorded and "moved on" in message
    req, (_, second) = load(rt.db, ref)
    assert (req.version, second.status) == (2, "pending")


def test_the_same_click_recorded_again_is_the_same_decision(rt: Runtime) -> None:
    """The step may run again after a crash that followed its commit: it answers as before and records nothing."""
    ref = pending(rt.db, *TWO_STEPS)
    first = approvals._record(ref, "U-mona", True, None, live(0, "mona"), "c1", START)
    assert approvals._record(ref, "U-mona", True, None, live(0, "mona"), "c1", START) == (True, "", first[2])
    assert audit_actions(rt.db, ref) == ["request.approved_step"]
    assert load(rt.db, ref)[0].version == 2


# --- two decisions at once --------------------------------------------------------------------------------------------
@pytest.fixture
def read_before(monkeypatch: pytest.MonkeyPatch, rt: Runtime) -> Iterator[Any]:
    """Make the next click read the request as it stood before `change()`: the other decision commits between its
    read and its write, as when two people click at the same moment."""

    def arrange(request_id: int, change: Any) -> None:
        stale = load(rt.db, request_id)
        change()
        reads = iter([stale])
        monkeypatch.setattr(approvals, "request_with_steps", lambda s, i: next(reads, None) or request_with_steps(s, i))

    yield arrange


def test_of_two_concurrent_decisions_on_a_step_one_is_recorded(rt: Runtime, read_before: Any) -> None:
    ref = pending(rt.db, ("manager", ["mona", "oscar"]), ("owners", ["erin"]))
    read_before(ref, lambda: approvals._record(ref, "U-mona", False, "No", live(0, "mona", "oscar"), "c1", START))
    with pytest.raises(approvals._LostRace):
        approvals._record(ref, "U-oscar", True, None, live(0, "mona", "oscar"), "c2", START)
    req, (first, _) = load(rt.db, ref)
    assert (req.status, req.version, first.decided_by_email) == ("denied", 2, "mona@example.com")
    assert audit_actions(rt.db, ref) == ["request.denied"]


def test_the_click_that_lost_is_told_what_the_other_decision_was(rt: Runtime, read_before: Any) -> None:
    ref = pending(rt.db, ("manager", ["mona", "oscar"]))
    read_before(ref, lambda: approvals._record(ref, "U-mona", False, "No", live(0, "mona", "oscar"), "c1", START))
    recorded, message, version = approvals._record_decision(ref, "U-oscar", True, None, live(0, "mona", "oscar"), "c2")
    assert (recorded, version) == (False, None)
    assert message.startswith(f"REQ-{ref} was already denied by mona@example.com at ")


def test_a_decision_that_races_the_expiry_is_undone_whole(rt: Runtime, read_before: Any) -> None:
    """The step row's claim succeeded, the request's version did not match: the step is claimed back too."""
    ref = pending(rt.db, *TWO_STEPS)
    read_before(ref, lambda: approvals.expire_due(START + timedelta(days=8)))
    with pytest.raises(approvals._LostRace):
        approvals._record(ref, "U-mona", True, None, live(0, "mona"), "c1", START)
    req, (first, _) = load(rt.db, ref)
    assert (req.status, first.status, first.decided_by_email) == ("expired", "pending", None)


# --- the listener's early answer and the hand-over to the decide workflow ---------------------------------------------
def test_the_early_answer_refuses_what_the_stored_state_already_rules_out(rt: Runtime) -> None:
    ref = pending(rt.db, ("owners", ["erin"]))
    assert approvals.check_decision(rt.db, 999, "U-erin", START).message == "REQ-999 does not exist."
    own = approvals.check_decision(rt.db, ref, "U-alice", START)
    assert not own.ok and "your own request" in own.message
    other = approvals.check_decision(rt.db, ref, "U-carol", START)
    assert not other.ok and "not an approver" in other.message
    assert approvals.check_decision(rt.db, ref, "U-erin", START).ok


def test_a_step_resolved_at_click_time_leaves_an_unlisted_clicker_to_the_live_check(rt: Runtime) -> None:
    """carol is not stored as alice's manager, but she may be now: only the decide workflow can tell."""
    ref = pending(rt.db, ("manager", ["mona"]))
    assert approvals.check_decision(rt.db, ref, "U-carol", START).ok


def test_a_click_hands_over_the_decide_workflow_a_refusal_hands_over_nothing(rt: Runtime) -> None:
    ref = pending(rt.db, ("owners", ["erin"]))
    queue = Queue()

    def click(clicker: str, click_id: str) -> approvals.Outcome:
        return approvals.ask_decision(
            rt.db, queue, ref, clicker, approve=True, reason=None, channel="D1", click_id=click_id, now=START
        )

    assert not click("U-carol", "k0").ok
    assert (queue.jobs, promised(rt.db)) == ([], [])
    assert click("U-erin", "k1").ok
    job_id = f"decide-{ref}-k1"
    assert queue.jobs == [("decide_request", job_id, ref, "U-erin", True, None, "D1", "k1")]
    assert promised(rt.db) == [job_id]
    assert load(rt.db, ref)[0].version == 1  # the click itself records nothing


class SomeKindDetails(RequestDetails):
    kinds: ClassVar[tuple[str, ...]] = ("some_kind",)


def test_a_new_request_is_stored_audited_and_handed_to_the_submit_workflow(rt: Runtime) -> None:
    queue = Queue()
    details = SomeKindDetails(owners=["erin@example.com"])
    new = NewRequest("some_kind", "U-alice", "aws-sandbox-admins for 4h", "Incident", ["manager", "owners"], details)
    req = approvals.open_request(rt.db, queue, new)
    stored, steps = load(rt.db, req.id or 0)
    assert (stored.status, steps) == ("submitted", [])
    assert details_of(stored, SomeKindDetails) == SomeKindDetails(
        owners=["erin@example.com"], step_specs=["manager", "owners"], auto_approve=False
    )
    assert audit_actions(rt.db, stored.id or 0) == ["request.submitted"]
    assert queue.jobs == [("submit_request", f"submit-{stored.id}", stored.id)]
    assert promised(rt.db) == [f"submit-{stored.id}"]


# --- Retry failed steps -----------------------------------------------------------------------------------------------
class Executes:
    name = "access"

    def execute_workflow(self) -> str:
        return "execute_access"


def failed(db: Database, attempt: int) -> int:
    ref = pending(db, ("owners", ["erin"]), status=RequestStatus.FAILED)
    with db.session() as session:
        req = session.get(Request, ref)
        assert req is not None
        req.attempt, req.error = attempt, "Okta refused"
        session.add(req)
    return ref


def test_retry_of_a_request_whose_plan_failed_plans_it_again_never_runs_it(rt: Runtime) -> None:
    ref = failed(rt.db, attempt=0)
    queue = Queue()
    outcome = approvals.retry(rt.db, queue, ref, "U-alice", START)
    assert outcome.ok and outcome.message == f"Planning REQ-{ref} again; then it goes to its approvers."
    req, _ = load(rt.db, ref)
    assert (req.status, req.attempt, req.version, req.error) == ("submitted", 0, 2, None)
    assert queue.jobs == [("submit_request", f"submit-{ref}-v2", ref, True)]


def test_retry_of_a_failed_execution_runs_it_again_as_the_next_attempt(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(kinds.KINDS, "access", Executes())
    ref = failed(rt.db, attempt=1)
    queue = Queue()
    assert approvals.retry(rt.db, queue, ref, "U-grace", START).ok  # an IT admin may too
    req, _ = load(rt.db, ref)
    assert (req.status, req.attempt, req.version) == ("running", 2, 2)
    assert queue.jobs == [
        ("execute_access", f"execute-{ref}-2", ref, 2),
        ("request_changed", f"changed-{ref}-v2", ref, 2),
    ]


@pytest.mark.parametrize(
    ("clicker", "status", "refusal"),
    [
        ("U-carol", RequestStatus.FAILED, "Only the requester or an IT admin can retry"),
        ("U-alice", RequestStatus.PENDING, "has nothing to retry"),
    ],
)
def test_retry_refused_changes_nothing(rt: Runtime, clicker: str, status: RequestStatus, refusal: str) -> None:
    ref = pending(rt.db, ("owners", ["erin"]), status=status)
    queue = Queue()
    outcome = approvals.retry(rt.db, queue, ref, clicker, START)
    assert not outcome.ok and refusal in outcome.message
    assert (load(rt.db, ref)[0].version, queue.jobs, promised(rt.db)) == (1, [], [])


# --- what the sweep finds due -----------------------------------------------------------------------------------------
def test_an_undecided_request_expires_once_and_its_notice_is_promised(rt: Runtime) -> None:
    ref = pending(rt.db, *TWO_STEPS)
    later = pending(rt.db, *TWO_STEPS)
    decided = pending(rt.db, *TWO_STEPS)
    approvals._record(decided, "U-mona", False, "No", live(0, "mona"), "c1", START)
    with rt.db.session() as session:
        row = session.get(Request, later)
        assert row is not None
        row.expires_at = START + timedelta(days=30)
        session.add(row)
    when = START + timedelta(days=7, minutes=1)
    assert approvals.expire_due(when) == [("request_expired", f"expired-{ref}", [ref, 2])]
    assert [load(rt.db, r)[0].status for r in (ref, later, decided)] == ["expired", "pending", "denied"]
    assert f"expired-{ref}" in promised(rt.db)
    assert approvals.expire_due(when) == []  # the next tick finds nothing more


def test_reminders_and_escalations_are_due_per_version(rt: Runtime) -> None:
    """Each decision starts new timers: the job id names the version, so the next step is reminded again."""
    ref = pending(rt.db, *TWO_STEPS)
    assert approvals.remind_due(START + timedelta(hours=3)) == []
    assert approvals.remind_due(START + timedelta(hours=4)) == [("remind_approvers", f"remind-{ref}-v1", [ref])]
    assert approvals.escalate_due(START + timedelta(hours=24)) == [("escalate_approval", f"escalate-{ref}-v1", [ref])]
    approvals._record(ref, "U-mona", True, None, live(0, "mona"), "c1", START + timedelta(hours=5))
    assert approvals.remind_due(START + timedelta(hours=9)) == [("remind_approvers", f"remind-{ref}-v2", [ref])]


# --- what the requester is told, and who a step's words mean ----------------------------------------------------------
def test_what_the_requester_is_told_after_each_kind_of_change(rt: Runtime) -> None:
    ref = pending(rt.db, *TWO_STEPS)
    assert approvals._change_message(*load(rt.db, ref)) is None  # nobody decided anything yet
    approvals._record(ref, "U-mona", True, None, live(0, "mona"), "c1", START)
    assert approvals._change_message(*load(rt.db, ref)) == (
        f"mona@example.com approved a step of your request REQ-{ref}; now waiting for owners."
    )
    approvals._record(ref, "U-erin", False, "Use the staging group", live(1, "erin"), "c2", START)
    assert approvals._change_message(*load(rt.db, ref)) == (
        f"Your request REQ-{ref} was denied by erin@example.com: Use the staging group"
    )


def test_owners_and_a_named_approver_are_read_from_the_request_and_the_policy_words() -> None:
    req = Request(
        kind="access",
        status=RequestStatus.SUBMITTED,
        requester_email="alice@example.com",
        requester_slack_id="U-alice",
        summary="",
        details={"owners": ["Erin@Example.com", "oscar@example.com"]},
    )
    assert approvals.approvers_for("owners", req) == ["erin@example.com", "oscar@example.com"]
    assert approvals.approvers_for("Sec-Lead@Example.com", req) == ["sec-lead@example.com"]
