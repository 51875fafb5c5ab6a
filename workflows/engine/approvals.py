"""The approval engine shared by every automated request (SPEC §6.1).

Handlers call `open_request` and `ask_decision` (database only, safe before the ack); everything that
talks to Slack or a provider runs in the durable workflows below. Who may decide is `bot.permissions`;
a click is checked again in the `decide_request` workflow against the step's approvers resolved live,
then recorded by compare-and-set on the step row and the request's version, so concurrent clicks give
exactly one decision.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dbos._error import DBOSMaxStepRetriesExceeded  # not re-exported by dbos 3.4 (pinned)
from sqlalchemy import update
from sqlmodel import Session, col, select

from bot import audit, permissions
from bot.db import queries
from bot.db.details import RequestDetails, details_of, store_details
from bot.db.engine import Database
from bot.db.models import ApprovalStep, CardCopy, Request, RequestStatus
from bot.db.queries import request_with_steps
from bot.policy import ADMIN_ROLE, role_name
from bot.providers.errors import ProviderError, TransientError
from bot.slack import cards
from bot.slack.escape import escape
from bot.slack.messenger import SlackCallError
from workflows.engine import people, runtime
from workflows.engine.durable import Dispatcher, Unanswered, durable, enqueue, patiently, step
from workflows.engine.handover import deliver, promise
from workflows.engine.kinds import PlanError, card_fields, kind_of
from workflows.engine.runtime import NotConfiguredError
from workflows.engine.sweep import Job, due_handler

log = logging.getLogger(__name__)


# --- handler side (database only) ------------------------------------------------------------
@dataclass(frozen=True)
class NewRequest:
    kind: str
    requester_slack_id: str
    summary: str
    reason: str
    step_specs: list[str]
    details: RequestDetails  # the kind's own details model (its wing builds it); open_request adds the steps
    requester_email: str = ""  # resolved later when not known yet
    subject_email: str | None = None
    channel_id: str | None = None
    auto_approve: bool = False


def open_request(db: Database, dispatcher: Dispatcher, new: NewRequest) -> Request:
    """Store the request and hand it to the durable submit workflow. Returns it with its id."""
    with db.session() as session:
        req = Request(
            kind=new.kind,
            status=RequestStatus.SUBMITTED,
            requester_email=new.requester_email,
            requester_slack_id=new.requester_slack_id,
            subject_email=new.subject_email,
            summary=new.summary,
            reason=new.reason,
            channel_id=new.channel_id,
        )
        approval = {"step_specs": list(new.step_specs), "auto_approve": new.auto_approve}
        store_details(req, new.details.model_copy(update=approval))
        session.add(req)
        session.flush()
        audit.append(
            session,
            actor=new.requester_email or new.requester_slack_id,
            action="request.submitted",
            subject=new.subject_email or new.requester_email,
            request_id=req.id,
            detail={"kind": new.kind, "summary": new.summary},
        )
        assert req.id is not None
        job = promise(session, "submit_request", f"submit-{req.id}", req.id)
    deliver(dispatcher, job)
    return req


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str
    version: int | None = None


def _current_step(steps: list[ApprovalStep]) -> ApprovalStep | None:
    return next((s for s in steps if s.status == "pending"), None)


def check_decision(db: Database, request_id: int, clicker: str, now: datetime) -> Outcome:
    """The listener's answer to Approve / Deny from the stored state (no provider call before the ack): a
    refusal, or ok (the decide workflow then checks again, live, and records it)."""
    with db.session() as session:
        found = request_with_steps(session, request_id)
        if found is None:
            return Outcome(False, f"REQ-{request_id} does not exist.")
        req, steps = found
        policy = runtime.current().policy
        facts = permissions.request_facts(req, steps)
        verdict = permissions.decide(queries.actor_of(session, clicker, policy), facts, now)
        current = facts.current
        if verdict.why is permissions.Why.NOT_APPROVER and current and permissions.resolved_live(current.spec):
            return Outcome(True, "", req.version)  # e.g. a new manager: the decide workflow resolves the step again
        return Outcome(verdict.ok, verdict.message, req.version)


def ask_decision(
    db: Database,
    dispatcher: Dispatcher,
    request_id: int,
    clicker: str,
    *,
    approve: bool,
    reason: str | None,
    channel: str | None,
    click_id: str,
    now: datetime,
) -> Outcome:
    """Approve / Deny: refuse from the stored state, or promise the decide workflow that resolves the step's
    approvers again (SPEC §6.1: a changed manager or a removed role holder no longer counts) and records it.
    The click itself records nothing; `click_id` makes a repeated delivery the same workflow."""
    early = check_decision(db, request_id, clicker, now)
    if not early.ok:
        return early
    with db.session() as session:
        job = promise(
            session,
            "decide_request",
            f"decide-{request_id}-{click_id}",
            request_id,
            clicker,
            approve,
            reason,
            channel,
            click_id,
        )
    deliver(dispatcher, job)
    return Outcome(True, "")


@step("workflows.approvals._live_approvers", retries_allowed=True, max_attempts=3, interval_seconds=1.0)
def _live_approvers(request_id: int, clicker: str) -> dict[str, Any] | str:
    """Resolve the current step again (Okta manager, role holders) and who the clicker is (their email, into the
    person cache); what cannot be looked up is said."""
    try:
        people.email_of(clicker)
    except SlackCallError as exc:
        if exc.passing:
            raise  # a passing failure: the step tries again, rather than deciding on it
        return f"I could not find your email address in Slack, so your click on REQ-{request_id} changed nothing."
    except LookupError:
        return f"I could not find your email address in Slack, so your click on REQ-{request_id} changed nothing."
    req, steps = _load(request_id)
    facts = permissions.request_facts(req, steps)
    current = _current_step(steps)
    if req.status != RequestStatus.PENDING or current is None:
        return {"position": -1, "approvers": [], "admins": {}}
    try:
        admins = people.role_holders(ADMIN_ROLE)
        resolved = approvers_for(current.spec.split(" → ")[0], req)
    except (ProviderError, NotConfiguredError) as exc:
        which = exc.provider.capitalize() if isinstance(exc, ProviderError) else "A provider"
        return (
            f"{which} did not answer, so I could not check that you are still an approver of {req.ref}; "
            "nothing changed. Try again in a moment."
        )
    excluded = permissions.not_approvers(facts)
    approvers, _ = permissions.step_approvers(resolved, excluded, admins)
    if current.escalated:
        approvers += [a for a in admins if a not in approvers and a not in excluded]
    return {
        "position": current.position,
        "approvers": approvers,
        "admins": {a: people.slack_id_of(a) or "" for a in admins},
    }


@step("workflows.approvals._record_decision")
def _record_decision(
    request_id: int, clicker: str, approve: bool, reason: str | None, live: dict[str, Any], click_id: str
) -> tuple[bool, str, int | None]:
    """Check the click against the live approvers and record it (compare-and-set on the step row and the request
    version). Returns (recorded, what to tell the clicker, the new version)."""
    rt = runtime.current()
    now = rt.clock.now()
    try:
        return _record(request_id, clicker, approve, reason, live, click_id, now)
    except _LostRace:  # another click's decision committed first: say what it was, from the stored state
        with rt.db.session() as session:
            found = request_with_steps(session, request_id)
            assert found is not None
            facts = permissions.request_facts(*found)
            verdict = permissions.decide(queries.actor_of(session, clicker, rt.policy), facts, now, live["approvers"])
        message = verdict.message or f"Someone else acted on REQ-{request_id} at the same moment; nothing changed."
        return False, message, None


class _LostRace(Exception):
    """A compare-and-set found the step or the request changed by a concurrent decision."""


def _record(
    request_id: int, clicker: str, approve: bool, reason: str | None, live: dict[str, Any], click_id: str, now: datetime
) -> tuple[bool, str, int | None]:
    rt = runtime.current()
    with rt.db.session() as session:
        found = request_with_steps(session, request_id)
        if found is None:
            return False, f"REQ-{request_id} does not exist.", None
        req, steps = found
        if _recorded_click(session, request_id, click_id):  # this step ran before and committed: same answer
            return True, "", req.version
        facts = permissions.request_facts(req, steps)
        current = _current_step(steps)
        if current is not None and current.position != live["position"] and req.status == RequestStatus.PENDING:
            return False, f"{req.ref} moved on while your click was checked; nothing changed. See its card.", None
        actor = queries.actor_of(session, clicker, rt.policy)
        verdict = permissions.decide(actor, facts, now, approvers=live["approvers"])
        if not verdict.ok:
            return False, verdict.message, None
        assert current is not None
        email = (actor.email or clicker).lower()
        claimed = session.execute(
            update(ApprovalStep)
            .where(col(ApprovalStep.id) == current.id, col(ApprovalStep.status) == "pending")
            .values(
                status="approved" if approve else "denied",
                decided_by_email=email,
                decided_by_slack_id=clicker,
                decided_at=now,
            )
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise _LostRace
        following = [s for s in steps if s.position > current.position]
        version = req.version + 1  # ORM updates below refresh `req` in place: read it first
        values: dict[str, Any] = {
            "version": version,
            "updated_at": now,
            "decided_by_email": email,
            "decided_by_slack_id": clicker,
            "decided_at": now,
        }
        if not approve:
            values.update(status=RequestStatus.DENIED, deny_reason=reason)
        elif following:
            _open_next(session, following[0], permissions.not_approvers(facts) | {email}, live["admins"])
            values.update(_timers(now))
        else:
            values.update(status=RequestStatus.APPROVED, remind_at=None, escalate_at=None, expires_at=None)
        moved = session.execute(
            update(Request).where(col(Request.id) == request_id, col(Request.version) == version - 1).values(**values)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            raise _LostRace
        audit.append(
            session,
            actor=email,
            action="request.approved_step" if approve else "request.denied",
            subject=req.subject_email or req.requester_email,
            request_id=request_id,
            detail={"step": current.spec, "position": current.position, "reason": reason, "click": click_id},
        )
        promise(session, *change_job(request_id, version))
    return True, f"{'Approved' if approve else 'Denied'} {req.ref}.", version


def _recorded_click(session: Session, request_id: int, click_id: str) -> bool:
    decisions = audit.details_recorded(session, request_id, ("request.approved_step", "request.denied"))
    return any(detail.get("click") == click_id for detail in decisions)


def _open_next(session: Session, nxt: ApprovalStep, excluded: set[str], admins: dict[str, str]) -> None:
    """The next step waits now; whoever decided an earlier step is not among its approvers (SPEC §6.1), and a
    step left without approvers falls back to role:it-admins."""
    known = dict(zip(nxt.approver_emails, nxt.approver_slack_ids, strict=False))
    emails, fell_back = permissions.step_approvers(nxt.approver_emails, excluded, admins)
    values: dict[str, Any] = {
        "status": "pending",
        "approver_emails": emails,
        "approver_slack_ids": [known.get(e) or admins.get(e, "") for e in emails],
    }
    if fell_back and ADMIN_ROLE not in nxt.spec:
        values["spec"] = f"{nxt.spec} → {ADMIN_ROLE}"
    session.execute(update(ApprovalStep).where(col(ApprovalStep.id) == nxt.id).values(**values))


@durable("decide_request")
def decide_request(
    request_id: int, clicker: str, approve: bool, reason: str | None, channel: str | None, click_id: str
) -> None:
    """One Approve / Deny click, checked again at click time and recorded once."""
    live: dict[str, Any] | str
    try:
        live = _live_approvers(request_id, clicker)
    except DBOSMaxStepRetriesExceeded:
        live = f"Slack or Okta did not answer, so your click on REQ-{request_id} changed nothing. Try again shortly."
    if isinstance(live, str):
        recorded, message, version = False, live, None
    else:
        recorded, message, version = _record_decision(request_id, clicker, approve, reason, live, click_id)
    if recorded and version is not None:
        enqueue(*change_job(request_id, version))  # promised with the decision; started now
    elif not recorded:
        enqueue("reply", f"reply-{click_id}", clicker, channel, message)


def _timers(now: datetime) -> dict[str, Any]:
    defaults = runtime.current().policy.access.defaults
    return {"remind_at": now + defaults.remind_after, "escalate_at": now + defaults.escalate_after}


def change_job(request_id: int, version: int) -> tuple[str, str, int, int]:
    """The workflow that brings cards and DMs up to a request's new version (and runs it once approved)."""
    return ("request_changed", f"changed-{request_id}-v{version}", request_id, version)


def retry(db: Database, dispatcher: Dispatcher, request_id: int, clicker: str, now: datetime) -> Outcome:
    """Retry failed steps: the requester or it-admins, on a failed or partly failed request."""
    with db.session() as session:
        req = session.get(Request, request_id)
        if req is None:
            return Outcome(False, f"REQ-{request_id} does not exist.")
        actor = queries.actor_of(session, clicker, runtime.current().policy)
        verdict = permissions.retry(actor, permissions.request_facts(req, []))
        if not verdict.ok:
            return Outcome(False, verdict.message)
        # Never executed: it failed before anyone approved it (its plan could not be made). Retrying it means
        # planning it again and asking its approvers — never running it unapproved.
        replan = req.attempt == 0
        attempt, version = req.attempt + (0 if replan else 1), req.version + 1
        moved = session.execute(
            update(Request)
            .where(col(Request.id) == request_id, col(Request.status).in_(permissions.RETRYABLE))
            .values(
                status=RequestStatus.SUBMITTED if replan else RequestStatus.RUNNING,
                attempt=attempt,
                version=version,
                error=None,
                updated_at=now,
            )
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            return Outcome(False, f"{req.ref} has nothing to retry ({cards.status_label(req.status)}).")
        audit.append(
            session,
            actor=actor.email or clicker,
            action="request.retry",
            request_id=request_id,
            detail={"attempt": attempt, "replan": replan},
        )
        if replan:
            jobs = [promise(session, "submit_request", f"submit-{request_id}-v{version}", request_id, True)]
        else:
            execute = kind_of(req).execute_workflow()
            jobs = [
                promise(session, execute, f"execute-{request_id}-{attempt}", request_id, attempt),
                promise(session, *change_job(request_id, version)),
            ]
    deliver(dispatcher, *jobs)
    if replan:
        return Outcome(True, f"Planning {req.ref} again; then it goes to its approvers.", version)
    return Outcome(True, f"Retrying the failed steps of {req.ref}.", version)


# --- workflows ------------------------------------------------------------------------------
def _load(request_id: int) -> tuple[Request, list[ApprovalStep]]:
    with runtime.current().db.session() as session:
        found = request_with_steps(session, request_id)
    if found is None:
        raise LookupError(f"REQ-{request_id} vanished")
    return found


@step("workflows.approvals._resolve_requester", retries_allowed=True, max_attempts=5, interval_seconds=1.0)
def _resolve_requester(request_id: int) -> None:
    req, _ = _load(request_id)
    email = req.requester_email or people.email_of(req.requester_slack_id)
    subject_slack_id = details_of(req, RequestDetails).subject_slack_id
    subject = req.subject_email or (people.email_of(subject_slack_id) if subject_slack_id else None)
    with runtime.current().db.session() as session:
        row = session.get(Request, request_id)
        assert row is not None
        row.requester_email, row.subject_email = email.lower(), subject.lower() if subject else None
        session.add(row)


@step("workflows.approvals._plan")
def _plan(request_id: int) -> list[str] | str | Unanswered:
    """The dry-run plan; or the reason it cannot be done; or `Unanswered` when a provider did not answer, which
    the workflow asks again after a pause (a request must not fail on a provider's passing blip)."""
    req, _ = _load(request_id)
    try:
        return kind_of(req).plan(req)
    except PlanError as exc:
        return str(exc)
    except TransientError as exc:
        return Unanswered(f"{exc.provider.capitalize()} did not answer while the plan was made ({exc.message})")
    except ProviderError as exc:
        return f"{exc.provider.capitalize()} refused a lookup while the plan was made ({exc.message})"
    except NotConfiguredError as exc:
        return str(exc)


def approvers_for(spec: str, req: Request) -> list[str]:
    subject = req.subject_email or req.requester_email
    if spec == "manager":
        manager = people.manager_of(subject)
        return [manager] if manager else []
    if spec == "owners":
        return [o.lower() for o in details_of(req, RequestDetails).owners]
    role = role_name(spec)
    if role is not None:
        return people.role_holders(role)
    return [spec.lower()]


@step("workflows.approvals._resolve_steps", retries_allowed=True, max_attempts=5, interval_seconds=1.0)
def _resolve_steps(request_id: int) -> None:
    """Approver rows for each step; the requester and the subject are never their own approvers."""
    req, existing = _load(request_id)
    if existing:
        return
    excluded = permissions.not_approvers(permissions.request_facts(req, []))
    admins = people.role_holders(ADMIN_ROLE)
    rows = []
    for position, spec in enumerate(details_of(req, RequestDetails).step_specs):
        # e.g. the requester is the only owner, or no manager is on file: IT admins decide.
        emails, fallback = permissions.step_approvers(approvers_for(spec, req), excluded, admins)
        slack_ids = [people.slack_id_of(e) or "" for e in emails]
        rows.append(
            ApprovalStep(
                request_id=request_id,
                position=position,
                spec=f"{spec} → {ADMIN_ROLE}" if fallback else spec,
                approver_emails=emails,
                approver_slack_ids=slack_ids,
            )
        )
    with runtime.current().db.session() as session:
        for row in rows:
            session.add(row)


@step("workflows.approvals._open_for_approval")
def _open_for_approval(request_id: int, plan: list[str]) -> str:
    """Move the request to pending (or straight to approved); returns the new status, as a plain string (the
    step's recorded output, as release 2 recorded it: no pickled enum)."""
    rt = runtime.current()
    now = rt.clock.now()
    defaults = rt.policy.access.defaults
    with rt.db.session() as session:
        req = session.get(Request, request_id)
        assert req is not None
        if req.status != RequestStatus.SUBMITTED:
            return req.status.value
        steps = list(
            session.exec(
                select(ApprovalStep).where(ApprovalStep.request_id == request_id).order_by(col(ApprovalStep.position))
            )
        )
        req.plan = plan
        req.version += 1
        req.updated_at = now
        if details_of(req, RequestDetails).auto_approve or not steps:
            req.status = RequestStatus.APPROVED
            req.decided_at = now
            req.decided_by_email = "auto-approve (policy)"
            for s in steps:
                s.status = "skipped"
                session.add(s)
            audit.append(
                session,
                actor="engops-bot",
                action="request.auto_approved",
                request_id=request_id,
                subject=req.subject_email or req.requester_email,
            )
        else:
            req.status = RequestStatus.PENDING
            steps[0].status = "pending"
            session.add(steps[0])
            req.remind_at = now + defaults.remind_after
            req.escalate_at = now + defaults.escalate_after
            req.expires_at = now + defaults.expire_after
        session.add(req)
        return req.status.value


@step("workflows.approvals._fail_submission")
def _fail_submission(request_id: int, why: str) -> None:
    rt = runtime.current()
    with rt.db.session() as session:
        req = session.get(Request, request_id)
        assert req is not None
        if req.status != RequestStatus.SUBMITTED:
            return
        req.status, req.error, req.version = RequestStatus.FAILED, why, req.version + 1
        session.add(req)
        audit.append(session, actor="engops-bot", action="request.rejected", request_id=request_id, detail={"why": why})


@durable("submit_request")
def submit_request(request_id: int, again: bool = False) -> None:
    """`again`: Retry on a request whose plan failed; its cards exist already and show the failure.

    Every request either reaches its approvers or ends failed with the requester told: a provider that does not
    answer is waited out (`Runtime.patience`), and what still cannot be looked up fails the request."""
    plan: list[str] | str | Unanswered
    try:
        _resolve_requester(request_id)
        plan = patiently(lambda: _plan(request_id), runtime.current().patience.pauses)
        if isinstance(plan, list):
            _resolve_steps(request_id)
    except DBOSMaxStepRetriesExceeded as exc:
        plan = f"the people it involves could not be looked up ({_last_error(exc)})"
    if not isinstance(plan, list):
        why = plan.why if isinstance(plan, Unanswered) else str(plan)
        _fail_submission(request_id, why)
        _post_cards(request_id)  # the requester's card shows the failure and Retry failed steps
        if again:
            _refresh_cards(request_id)
        _notify_requester(
            request_id,
            f"Your request REQ-{request_id} cannot be done: {why.rstrip('.')}. Nothing was changed; once that is "
            "fixed, Retry failed steps on its card plans it again.",
        )
        return
    status = _open_for_approval(request_id, plan)
    _post_cards(request_id)
    if again:
        _refresh_cards(request_id)
    if status == RequestStatus.APPROVED:
        _start_execution(request_id)
    else:
        _notify_requester(request_id, f"Your request REQ-{request_id} was submitted and waits for approval.")


def _last_error(exc: DBOSMaxStepRetriesExceeded) -> str:
    last = exc.errors[-1] if exc.errors else None
    if isinstance(last, ProviderError):
        return f"{last.provider.capitalize()}: {last.message}"
    return "Slack or Okta did not answer"  # never a raw SDK error text in Slack


@durable("request_changed")
def request_changed(request_id: int, version: int) -> None:
    """After a decision: refresh every copy, tell the people concerned, execute when approved."""
    message, execute = _after_change(request_id, version)
    _post_cards(request_id)
    _refresh_cards(request_id)
    if message:
        _notify_requester(request_id, message)
    if execute:
        _start_execution(request_id)


@step("workflows.approvals._after_change")
def _after_change(request_id: int, version: int) -> tuple[str | None, bool]:
    """What the change means: the requester's message, and whether to execute now.

    A step, so that a recovered run decides as the first run did (once execution is claimed the
    request is no longer `approved`; read again, it would never be started)."""
    req, steps = _load(request_id)
    return _change_message(req, steps), req.status == RequestStatus.APPROVED and req.version == version


def _change_message(req: Request, steps: list[ApprovalStep]) -> str | None:
    who = req.decided_by_email or "someone"
    if req.status == RequestStatus.DENIED:
        return f"Your request {req.ref} was denied by {who}: {req.deny_reason or ''}"
    if req.status == RequestStatus.APPROVED:
        return f"Your request {req.ref} was approved by {who}. Working on it now."
    if req.status == RequestStatus.PENDING and req.decided_by_email:
        current = _current_step(steps)
        nxt = f"; now waiting for {current.spec}" if current else ""
        return f"{who} approved a step of your request {req.ref}{nxt}."
    return None


@step("workflows.approvals._claim_execution")
def _claim_execution(request_id: int) -> str | None:
    """approved -> running, once; returns the execution workflow's name to start.

    Also when the request was already claimed (attempt >= 1): this step may be running again after a
    crash that came after its update and before DBOS recorded its result. Starting `execute-<req>-1`
    again is harmless (one execution per workflow id); not starting it would leave the request running."""
    rt = runtime.current()
    with rt.db.session() as session:
        session.execute(
            update(Request)
            .where(col(Request.id) == request_id, col(Request.status) == RequestStatus.APPROVED)
            .values(status=RequestStatus.RUNNING, attempt=1)
        )
    req, _ = _load(request_id)
    return kind_of(req).execute_workflow() if req.attempt >= 1 else None


def _start_execution(request_id: int) -> None:
    """Called from a workflow body: DBOS starts child workflows from workflows, not from steps."""
    workflow = _claim_execution(request_id)
    if workflow:
        enqueue(workflow, f"execute-{request_id}-1", request_id, 1)


@step("workflows.approvals._notify_requester", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _notify_requester(request_id: int, text: str) -> None:
    req, _ = _load(request_id)
    runtime.current().slack.dm(req.requester_slack_id, escape(text))


def notify_requester(request_id: int, text: str) -> None:
    _notify_requester(request_id, text)


# --- cards ------------------------------------------------------------------------------------
def _actions_for(copy: CardCopy, req: Request, steps: list[ApprovalStep]) -> list[str]:
    actions: list[str] = []
    if permissions.may_see_card_buttons(copy.audience, copy.recipient_slack_id, permissions.request_facts(req, steps)):
        actions += [cards.APPROVE, cards.DENY]
    if copy.audience in ("requester", "channel"):
        actions += kind_of(req).requester_actions(req)
        if req.status in permissions.RETRYABLE:
            actions.append(cards.RETRY)
    return actions


@step("workflows.approvals._post_cards", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _post_cards(request_id: int) -> None:
    """Post the copies that do not exist yet: requester DM, current approvers' DMs, the channel."""
    rt = runtime.current()
    req, steps = _load(request_id)
    with rt.db.session() as session:
        have = {c.channel_id for c in session.exec(select(CardCopy).where(CardCopy.request_id == request_id))}
    wanted: list[tuple[str, str | None, str]] = [("requester", req.requester_slack_id, "")]
    current = _current_step(steps)
    if current is not None and req.status == RequestStatus.PENDING:
        wanted += [("approver", sid, "") for sid in current.approver_slack_ids if sid]
    if req.channel_id and req.channel_id[:1] in ("C", "G"):
        wanted.append(("channel", None, req.channel_id))
    for audience, recipient, channel in wanted:
        channel = channel or rt.slack.dm_channel(recipient or "")
        if channel in have:
            continue
        copy = CardCopy(
            request_id=request_id, channel_id=channel, ts="", audience=audience, recipient_slack_id=recipient
        )
        blocks = cards.request_blocks(req, steps, actions=_actions_for(copy, req, steps), fields=card_fields(req))
        posted = rt.slack.post(channel, cards.request_text(req), blocks)
        copy.ts = posted.ts
        copy.channel_id = posted.channel
        with rt.db.session() as session:
            session.add(copy)
        have.add(posted.channel)


@step("workflows.approvals._refresh_cards", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _refresh_cards(request_id: int) -> None:
    rt = runtime.current()
    req, steps = _load(request_id)
    with rt.db.session() as session:
        copies = list(session.exec(select(CardCopy).where(CardCopy.request_id == request_id)))
    for copy in copies:
        blocks = cards.request_blocks(req, steps, actions=_actions_for(copy, req, steps), fields=card_fields(req))
        rt.slack.update(copy.channel_id, copy.ts, cards.request_text(req), blocks)


def refresh_cards(request_id: int) -> None:
    _refresh_cards(request_id)


# --- time-bound: reminders, escalation, expiry ----------------------------------------------------
def _due(now: datetime, column: Any) -> list[tuple[int, int]]:
    """Pending requests whose `column` time has come, with their version: each decision starts a new step with
    timers of its own, so the reminder (or escalation) of each step is a workflow of its own."""
    with runtime.current().db.session() as session:
        query = select(Request.id, Request.version).where(Request.status == RequestStatus.PENDING).where(column <= now)
        return [(i, v) for i, v in session.exec(query) if i is not None]


@due_handler("approvals.remind")
def remind_due(now: datetime) -> list[Job]:
    return [("remind_approvers", f"remind-{i}-v{v}", [i]) for i, v in _due(now, col(Request.remind_at))]


@due_handler("approvals.escalate")
def escalate_due(now: datetime) -> list[Job]:
    return [("escalate_approval", f"escalate-{i}-v{v}", [i]) for i, v in _due(now, col(Request.escalate_at))]


@due_handler("approvals.expire")
def expire_due(now: datetime) -> list[Job]:
    rt = runtime.current()
    expired = []
    for request_id, _version in _due(now, col(Request.expires_at)):
        with rt.db.session() as session:
            req = session.get(Request, request_id)
            moved = session.execute(
                update(Request)
                .where(col(Request.id) == request_id, col(Request.status) == RequestStatus.PENDING)
                .values(status=RequestStatus.EXPIRED, version=Request.version + 1, updated_at=now)
            )
            if moved.rowcount == 1 and req is not None:  # type: ignore[attr-defined]
                audit.append(session, actor="engops-bot", action="request.expired", request_id=request_id)
                # promised with the mark: a sweep killed before it starts the job leaves it to the next one
                version = req.version  # already refreshed by the update
                expired.append(promise(session, "request_expired", f"expired-{request_id}", request_id, version))
    return expired


@durable("request_expired")
def request_expired(request_id: int, version: int) -> None:
    _refresh_cards(request_id)
    days = runtime.current().policy.access.defaults.expire_after.days
    _notify_requester(
        request_id,
        f"Your request REQ-{request_id} expired: nobody decided within {days} days. Ask again if you still need it.",
    )


@durable("remind_approvers")
def remind_approvers(request_id: int) -> None:
    _send_reminder(request_id)


@step("workflows.approvals._send_reminder", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _send_reminder(request_id: int) -> None:
    rt = runtime.current()
    with rt.db.session() as session:
        found = request_with_steps(session, request_id)
        if found is None:
            return
        req, steps = found
        current = _current_step(steps)
        if req.status != RequestStatus.PENDING or current is None:
            return
        targets = [s for s in current.approver_slack_ids if s]
        # Already marked: this step ran before and was stopped after its commit (the workflow id is per step of
        # the request, so it was this reminder). Send again: the post ledger skips the DMs that went out.
        if not current.reminded:
            current.reminded = True
            req.remind_at = None
            session.add(current)
            session.add(req)
            audit.append(
                session,
                actor="engops-bot",
                action="request.reminded",
                request_id=request_id,
                detail={"approvers": current.approver_emails},
            )
    for slack_id in targets:
        rt.slack.dm(slack_id, f"Reminder: {req.ref} ({escape(req.summary)}) is waiting for your approval.")


@durable("escalate_approval")
def escalate_approval(request_id: int) -> None:
    if _widen_to_admins(request_id):
        _post_cards(request_id)
        _refresh_cards(request_id)


@step("workflows.approvals._widen_to_admins")
def _widen_to_admins(request_id: int) -> bool:
    """Add role:it-admins to the current step's approvers (never the requester)."""
    rt = runtime.current()
    admins = people.role_holders(ADMIN_ROLE)
    admin_ids = {email: people.slack_id_of(email) or "" for email in admins}  # before the transaction
    with rt.db.session() as session:
        found = request_with_steps(session, request_id)
        if found is None:
            return False
        req, steps = found
        current = _current_step(steps)
        if req.status != RequestStatus.PENDING or current is None:
            return False
        if current.escalated:  # this step ran before (the workflow id is per step): post the cards it may not have
            return True
        excluded = permissions.not_approvers(permissions.request_facts(req, steps))
        emails = list(current.approver_emails)
        for admin in admins:
            if admin not in emails and admin not in excluded:
                emails.append(admin)
        current.approver_emails = emails
        known = dict(zip(current.approver_emails, current.approver_slack_ids, strict=False))
        current.approver_slack_ids = [known.get(e) or admin_ids.get(e, "") for e in emails]
        current.escalated = True
        req.escalate_at = None
        session.add(current)
        session.add(req)
        audit.append(
            session, actor="engops-bot", action="request.escalated", request_id=request_id, detail={"approvers": emails}
        )
    return True
