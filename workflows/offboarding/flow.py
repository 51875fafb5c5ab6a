"""Offboarding requests (SPEC §3 `/offboard`, §6.3): who may ask, the live preview / plan, the run, Undo.

The request kind "offboarding" plugs into the approval engine: `plan` is the live preview, the
execute workflow runs the policy's steps for every person (workflows/offboarding/steps.py) and
reports on one progress message (workflows/offboarding/progress.py).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select

from bot import audit, permissions
from bot.db import queries
from bot.db.details import details_of, store_details
from bot.db.engine import Database
from bot.db.models import Request, RequestStatus, Run, RunStep
from bot.policy import Policy
from bot.providers.errors import ProviderError, TransientError
from bot.slack.messenger import SlackCallError
from bot.slack.offboarding_views import PersonPreview, preview_failed_modal, preview_modal
from workflows.engine import identity, people, runtime
from workflows.engine.approvals import NewRequest, Outcome, change_job, notify_requester, refresh_cards
from workflows.engine.durable import Dispatcher, durable, enqueue, step
from workflows.engine.handover import deliver, promise
from workflows.engine.kinds import PlanError, register_kind
from workflows.offboarding import progress, steps
from workflows.offboarding import record as offboarding_record
from workflows.offboarding import transfer as offboarding_transfer
from workflows.offboarding.details import OffboardingDetails, Undo
from workflows.offboarding.end_grants import card_jobs
from workflows.offboarding.plan import (
    bulk_summary,
    compact_line,
    look_up_all,
    person_lines,
    preview_lines,
    refused_people,
)

log = logging.getLogger(__name__)

KIND = "offboarding"
MAX_COMPACT_PLAN = 200  # a bulk plan lists this many people one line each, then a count


# --- who may offboard; building the request --------------------------------------------------------
def may_offboard(policy: Policy, email: str | None, roles: set[str]) -> bool:
    """`offboarding.allowed` (`bot.permissions.offboard`), for callers that know the roles."""
    actor = permissions.Actor(slack_id="", email=email, roles=frozenset(roles))
    return permissions.offboard(actor, policy.offboarding.allowed).ok


def live_refusal(requester_slack_id: str) -> str | None:
    """Why the requester may not offboard, with the roles read live (the listener's cache may be cold)."""
    try:
        actor = people.live_actor(requester_slack_id)
    except SlackCallError as exc:
        if exc.passing:
            return "Slack did not answer, so I could not check that you may offboard people. Try again."
        return "I could not find your email address in Slack, so I could not check that you may offboard people."
    except LookupError:
        return "I could not find your email address in Slack, so I could not check that you may offboard people."
    except ProviderError as exc:
        return f"Okta did not answer ({exc.message}), so I could not check that you may offboard people. Try again."
    verdict = permissions.offboard(actor, runtime.current().policy.offboarding.allowed)
    return None if verdict.ok else verdict.message


def refusal_text(policy: Policy) -> str:
    return permissions.offboard_refusal(policy.offboarding.allowed)


def approvers_label(policy: Policy) -> str:
    return ", ".join(policy.offboarding.approvals)


def new_request(
    policy: Policy,
    *,
    requester_slack_id: str,
    requester_email: str,
    emails: list[str],
    reason: str,
    reasons: dict[str, str] | None = None,
    source: str,
    channel_id: str | None,
) -> NewRequest:
    """One request for one person or many (a bulk request: one approval, one run, one progress message)."""
    emails = list(dict.fromkeys(e.lower() for e in emails))
    if len(emails) == 1:
        summary = f"Offboard {emails[0]}"
    elif len(emails) <= 3:
        summary = f"Offboard {len(emails)} people: {', '.join(emails)}"
    else:
        summary = f"Offboard {len(emails)} people ({source})"
    return NewRequest(
        kind=KIND,
        requester_slack_id=requester_slack_id,
        requester_email=requester_email.lower(),
        summary=summary,
        reason=reason,
        step_specs=list(policy.offboarding.approvals),
        subject_email=emails[0] if len(emails) == 1 else None,
        details=OffboardingDetails(
            subjects=emails,
            reasons={k.lower(): v for k, v in (reasons or {}).items() if v},
            source=source,
        ),
        channel_id=channel_id,
    )


class OffboardingKind:
    name = KIND
    details_model = OffboardingDetails

    def plan(self, req: Request) -> list[str]:
        rt = runtime.current()
        emails = details_of(req, OffboardingDetails).subjects
        if not emails:
            raise PlanError("nobody to offboard.")
        not_allowed = live_refusal(req.requester_slack_id)
        if not_allowed:
            raise PlanError(not_allowed.rstrip("."))
        found = look_up_all(emails)
        unverified = [f.blocked.text for f in found if isinstance(f.blocked, identity.Unverified)]
        if unverified:  # a provider that did not answer: the plan is made again after a pause (approvals.py)
            raise TransientError("the directory", unverified[0].rstrip("."))
        if refused := refused_people(found):  # SPEC §5, §6.3: protected people, addresses outside the domain
            raise PlanError("; ".join(refused[:5]) + (f" (and {len(refused) - 5} more)" if len(refused) > 5 else ""))
        if not any(f.found_anywhere for f in found):
            who = emails[0] if len(emails) == 1 else "none of these people"
            raise PlanError(f"{who} was not found in Google, Okta or AWS; nothing to offboard.")
        tracker = str(rt.policy.team(rt.policy.offboarding.team).tracker)
        if len(found) == 1:
            return person_lines(found[0], list(rt.policy.offboarding.steps), tracker, rt.clock.now())
        lines = bulk_summary(found, tracker) + [compact_line(f) for f in found[:MAX_COMPACT_PLAN]]
        if len(found) > MAX_COMPACT_PLAN:
            lines.append(f"…and {len(found) - MAX_COMPACT_PLAN} more people")
        return lines

    def execute_workflow(self) -> str:
        return "execute_offboarding"

    def requester_actions(self, req: Request) -> list[str]:
        return []  # Retry and Undo live on the run's progress message

    def card_fields(self, req: Request) -> list[tuple[str, str]]:
        return []


register_kind(OffboardingKind())


# --- the preview modal -------------------------------------------------------------------------------------
def _resolve_targets(requester_slack_id: str, targets: list[str]) -> tuple[list[str], list[str]]:
    """Slack ids and emails -> emails (requester left out), and what could not be used."""
    requester = people.email_of(requester_slack_id).lower()
    emails, problems = [], []
    for target in targets:
        email = target.lower()
        if not target.startswith("@"):
            emails.append(email)
            continue
        try:
            email = people.email_of(target[1:]).lower()
        except SlackCallError as exc:
            if exc.passing:
                raise  # a passing failure: the step tries again, rather than deciding on it
            problems.append(f"The Slack user {target[1:]} has no email address on file; left out.")
            continue
        except LookupError:
            problems.append(f"The Slack user {target[1:]} has no email address on file; left out.")
            continue
        emails.append(email)
    if requester in emails:
        problems.append(f"You cannot offboard yourself ({requester}); left out.")
    return [e for e in dict.fromkeys(emails) if e != requester], problems


@step("workflows.offboarding._fill_offboarding_preview", retries_allowed=True, max_attempts=3, interval_seconds=1.0)
def _fill_offboarding_preview(
    view_id: str, requester_slack_id: str, targets: list[str], channel_id: str | None
) -> None:
    rt = runtime.current()
    refused = live_refusal(requester_slack_id)
    if refused:  # the listener let it through because its role cache could not confirm the role
        with contextlib.suppress(SlackCallError):
            rt.slack.update_view(view_id, preview_failed_modal(refused))
        return
    try:
        emails, problems = _resolve_targets(requester_slack_id, targets)
        found = look_up_all(emails)
        tracker = str(rt.policy.team(rt.policy.offboarding.team).tracker)
        now = rt.clock.now()
        previews = [
            PersonPreview(f.email, preview_lines(f, list(rt.policy.offboarding.steps), tracker, now), f.offboardable)
            for f in found
        ]
        view = preview_modal(previews, channel_id, approvers_label(rt.policy), problems)
    except (LookupError, SlackCallError) as exc:
        log.warning("offboarding preview failed: %s", type(exc).__name__)
        view = preview_failed_modal("The preview could not be resolved; close this and run /offboard again.")
    try:
        rt.slack.update_view(view_id, view)
    except SlackCallError as exc:
        log.info("offboarding preview %s not updated (closed?): %s", view_id, exc.error)


@durable("offboarding_preview")
def offboarding_preview(view_id: str, requester_slack_id: str, targets: list[str], channel_id: str | None) -> None:
    _fill_offboarding_preview(view_id, requester_slack_id, targets, channel_id)


def start_preview(
    dispatcher: Dispatcher, view_id: str, requester_slack_id: str, targets: list[str], channel_id: str | None
) -> None:
    """Targets are `@U…` Slack ids or emails; the lookups run after the ack."""
    dispatcher.enqueue("offboarding_preview", f"preview-{view_id}", view_id, requester_slack_id, targets, channel_id)


# --- the run ----------------------------------------------------------------------------------------------------
@step("workflows.offboarding._prepare_offboarding_run")
def _prepare_offboarding_run(request_id: int, attempt: int) -> int:
    """The request's Run and one pending RunStep per person and step; a retry resets only failed steps."""
    rt = runtime.current()
    with rt.db.session() as session:
        req = session.get(Request, request_id)
        assert req is not None
        run = session.exec(select(Run).where(Run.request_id == request_id).order_by(col(Run.id))).first()
        if run is None:
            run = Run(request_id=request_id, started_at=rt.clock.now())
            session.add(run)
            session.flush()
        run.status, run.finished_at = "running", None
        session.add(run)
        existing = {(r.subject, r.step): r for r in session.exec(select(RunStep).where(RunStep.run_id == run.id))}
        subjects = details_of(req, OffboardingDetails).subjects
        for email in subjects:
            for position, name in enumerate(rt.policy.offboarding.steps):
                row = existing.get((email, name))
                if row is None:
                    session.add(RunStep(run_id=run.id or 0, subject=email, step=name, position=position))
                elif row.status == "failed":
                    row.status = "pending"
                    session.add(row)
        audit.append(
            session,
            actor="engops-bot",
            action="offboarding.run_started",
            request_id=request_id,
            detail={"attempt": attempt, "people": len(subjects)},
        )
        assert run.id is not None
        return run.id


def _result_text(req: Request, status: RequestStatus, failures: list[RunStep]) -> str:
    details = details_of(req, OffboardingDetails)
    who = req.subject_email or f"{len(details.subjects)} people"
    where = f" Record: {details.record.web_url}" if details.record else ""
    if status == RequestStatus.DONE:
        return f"Done: {req.ref} offboarded {who}; every step finished.{where}"
    first = failures[0]
    more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
    verdict = "failed" if status == RequestStatus.FAILED else "partly failed"
    return (
        f"{req.ref} {verdict}: {first.subject} {first.step}: {first.detail}{more}. "
        f"Use Retry failed steps on the progress message.{where}"
    )


@step("workflows.offboarding._finish_offboarding_run")
def _finish_offboarding_run(run_id: int) -> str:
    """Run and request to done / partly_failed / failed; returns the requester's message."""
    rt = runtime.current()
    now = rt.clock.now()
    with rt.db.session() as session:
        run, req = queries.run_with_request(session, run_id)
        rows = list(
            session.exec(
                select(RunStep).where(RunStep.run_id == run_id).order_by(col(RunStep.subject), col(RunStep.position))
            )
        )
        failures = [r for r in rows if r.status == "failed"]
        worked = any(r.status in ("done", "skipped") for r in rows)
        status = RequestStatus.DONE if not failures else RequestStatus.PARTLY_FAILED if worked else RequestStatus.FAILED
        run.status, run.finished_at = status.value, now
        req.status, req.version, req.updated_at = status, req.version + 1, now
        req.error = None if not failures else f"{len(failures)} step(s) failed"
        session.add(run)
        session.add(req)
        audit.append(
            session,
            actor="engops-bot",
            action=f"offboarding.{status}",
            request_id=req.id,
            detail={"failed_steps": len(failures), "steps": len(rows)},
        )
        return _result_text(req, status, failures)


@step("workflows.offboarding._card_jobs")
def _card_jobs(request_id: int) -> list[tuple[str, str, list[object]]]:
    return card_jobs(request_id)


@durable("execute_offboarding")
def execute_offboarding(request_id: int, attempt: int) -> None:
    run_id = _prepare_offboarding_run(request_id, attempt)
    progress.post_progress(run_id)
    steps.run_offboarding_steps(run_id)
    for workflow, workflow_id, args in _card_jobs(request_id):  # requests that engops_end_grants ended
        enqueue(workflow, workflow_id, *args)
    offboarding_transfer.follow(run_id, progress.render_progress)  # durable sleeps until transfers end
    offboarding_record.file_offboarding_record(run_id, attempt)
    text = _finish_offboarding_run(run_id)
    progress.render_progress(run_id)
    refresh_cards(request_id)
    notify_requester(request_id, text)


# --- Undo ---------------------------------------------------------------------------------------------------------
def claim_undo(db: Database, dispatcher: Dispatcher, request_id: int, clicker: str, now: datetime) -> Outcome:
    """IT admins, within 24 hours of the run's end: unsuspend Google and Okta (AWS keys stay inactive)."""
    with db.session() as session:
        req = session.get(Request, request_id)
        if req is None or req.kind != KIND:
            return Outcome(False, f"REQ-{request_id} is not an offboarding.")
        actor = queries.actor_of(session, clicker, runtime.current().policy)
        run = session.exec(select(Run).where(Run.request_id == request_id).order_by(col(Run.id))).first()
        facts = replace(permissions.request_facts(req, []), finished_at=run.finished_at if run else None)
        verdict = permissions.undo_offboarding(actor, facts, now)
        if not verdict.ok or run is None or actor.email is None:
            return Outcome(False, verdict.message)
        email = actor.email
        version = req.version + 1
        moved = session.execute(
            update(Request)
            .where(col(Request.id) == request_id, col(Request.version) == req.version)
            .values(
                status=RequestStatus.UNDONE,
                version=version,
                updated_at=now,
                decided_by_email=email,
                decided_by_slack_id=clicker,
                decided_at=now,
            )
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            return Outcome(False, f"Someone else acted on {req.ref} at the same moment; nothing changed.")
        details = details_of(req, OffboardingDetails)  # the row is this transaction's now
        details.undo = Undo(by=email, at=now)
        store_details(req, details)
        session.add(req)
        run.status = "undoing"
        session.add(run)
        audit.append(session, actor=email, action="offboarding.undo_requested", request_id=request_id)
        jobs = (
            promise(session, "undo_offboarding", f"undo-{request_id}", request_id),
            promise(session, *change_job(request_id, version)),
        )
    deliver(dispatcher, *jobs)
    return Outcome(True, f"Undoing {req.ref}: unsuspending Google and Okta.", version)


@step("workflows.offboarding._prepare_offboarding_undo")
def _prepare_offboarding_undo(request_id: int) -> int:
    """Undo steps for what the run suspended (not for accounts that were suspended already)."""
    with runtime.current().db.session() as session:
        run = session.exec(select(Run).where(Run.request_id == request_id).order_by(col(Run.id))).first()
        assert run is not None and run.id is not None
        rows = list(session.exec(select(RunStep).where(RunStep.run_id == run.id)))
        have = {(r.subject, r.step) for r in rows}
        undo_of = {"google_suspend": "google_unsuspend", "okta_suspend": "okta_unsuspend"}
        for row in rows:
            name = undo_of.get(row.step)
            if name and row.status == "done" and (row.subject, name) not in have:
                session.add(RunStep(run_id=run.id, subject=row.subject, step=name, position=100 + row.position))
        return run.id


@step("workflows.offboarding._finish_offboarding_undo")
def _finish_offboarding_undo(run_id: int) -> str:
    rt = runtime.current()
    with rt.db.session() as session:
        run, req = queries.run_with_request(session, run_id)
        rows = [
            r for r in session.exec(select(RunStep).where(RunStep.run_id == run_id)) if r.step in progress.UNDO_STEPS
        ]
        failures = [r for r in rows if r.status == "failed"]
        run.status = "undone"
        session.add(run)
        undo = details_of(req, OffboardingDetails).undo
        by = undo.by if undo else "an IT admin"
        audit.append(
            session,
            actor=by,
            action="offboarding.undone",
            request_id=req.id,
            detail={"unsuspended": sum(1 for r in rows if r.status == "done"), "failed": len(failures)},
        )
    text = (
        f"{req.ref} was undone by {by}: {sum(1 for r in rows if r.status == 'done')} Google/Okta accounts "
        "unsuspended. AWS access keys stay inactive; reactivate them by hand if needed."
    )
    if failures:
        text += (
            f" {len(failures)} unsuspend step(s) failed (first: {failures[0].subject} {failures[0].step}: "
            f"{failures[0].detail}); unsuspend those by hand."
        )
    return text


@durable("undo_offboarding")
def undo_offboarding(request_id: int) -> None:
    run_id = _prepare_offboarding_undo(request_id)
    progress.render_progress(run_id)
    steps.run_offboarding_undo_steps(run_id)
    text = _finish_offboarding_undo(run_id)
    offboarding_record.note_on_offboarding_record(request_id, text)
    progress.render_progress(run_id)
    refresh_cards(request_id)
    notify_requester(request_id, text)
