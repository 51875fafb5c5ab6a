"""`gitlab_issue`: the run's record in the offboarding team's tracker, listing every step's outcome.

One record per run (a bulk run of 500 people is one issue, not 500: GitLab allows about 200 issue
creations a minute). It is filed after the people's steps, since it reports them; a retry that
changed outcomes adds them to the same record as a comment, and an undo says so there too.
"""

from __future__ import annotations

import logging

from sqlmodel import select

from bot import audit
from bot.db import queries
from bot.db.details import details_of, store_details
from bot.db.models import Request, Run, RunStep, TrackedIssue
from bot.gitlab_text import gitlab_safe, gitlab_title
from bot.providers.errors import ProviderError
from bot.providers.gitlab import open_issues_filed_by_bot
from bot.slack.offboarding_views import step_label
from workflows.engine import runtime
from workflows.engine.durable import step
from workflows.engine.runtime import NotConfiguredError
from workflows.offboarding import progress
from workflows.offboarding.details import OffboardingDetails, RecordIssue
from workflows.offboarding.outcomes import Recorded, describe_error, done, failed, write_outcomes

log = logging.getLogger(__name__)


def _cell(text: str) -> str:
    return gitlab_safe(text).replace("\n", " ").replace("|", "\\|")


def record_title(req: Request, people: list[str]) -> str:
    who = people[0] if len(people) == 1 else f"{len(people)} people"
    return gitlab_title(f"Offboarding {req.ref}: {who}")


def record_table(steps: list[str], people: list[str], rows: list[RunStep]) -> str:
    cells = {(r.subject, r.step): r for r in rows}
    lines = [
        "| Person | " + " | ".join(step_label(s) for s in steps) + " |",
        "| --- | " + " | ".join("---" for _ in steps) + " |",
    ]
    for email in people:
        outcome = []
        for name in steps:
            row = cells.get((email, name))
            outcome.append(_cell(f"{row.status}: {row.detail}" if row and row.detail else row.status if row else "—"))
        lines.append(f"| {_cell(email)} | " + " | ".join(outcome) + " |")
    return "\n".join(lines)


def record_body(req: Request, people: list[str], steps: list[str], rows: list[RunStep]) -> str:
    reasons = details_of(req, OffboardingDetails).reasons
    parts = [
        f"Offboarding **{req.ref}**, run by EngOps Bot.",
        "",
        f"- Requested by: {gitlab_safe(req.requester_email)}",
        f"- Approved by: {gitlab_safe(req.decided_by_email or 'n/a')}",
        f"- People: {len(people)}",
        f"- Reason: {gitlab_safe(req.reason) or 'n/a'}",
        "",
        "### Outcome of each step",
        "",
        record_table(steps, people, rows),
    ]
    if reasons:
        parts += ["", "### Reasons given per person", ""]
        parts += [f"- {_cell(email)}: {_cell(reasons[email])}" for email in people if reasons.get(email)]
    return "\n".join(parts)


def _load_for_record(run_id: int) -> tuple[Run, Request, list[RunStep]]:
    with runtime.current().db.session() as session:
        run, req = queries.run_with_request(session, run_id)
        rows = list(session.exec(select(RunStep).where(RunStep.run_id == run_id)))
    return run, req, rows


def _file_or_find(project: str, title: str, body: str, labels: list[str]) -> tuple[int, str]:
    """The record's issue: the one an interrupted earlier try filed (same title, confidential, by the bot),
    else a new one."""
    tracker = runtime.current().require_gitlab()
    for issue in open_issues_filed_by_bot(tracker, project, title, confidential=True):
        if issue.title == title:
            return issue.iid, issue.web_url
    filed = tracker.create_issue(project, title, body, labels, [], confidential=True)
    return filed.iid, filed.web_url


@step(
    "workflows.offboarding_record.file_offboarding_record", retries_allowed=True, max_attempts=3, interval_seconds=2.0
)
def file_offboarding_record(run_id: int, attempt: int) -> None:
    """`gitlab_issue`: one record per run in the offboarding team's tracker, listing every step's outcome.
    A retry that changed outcomes adds them to the same record as a comment."""
    rt = runtime.current()
    run, req, rows = _load_for_record(run_id)
    record_rows = [r for r in rows if r.step == progress.RECORD_STEP]
    if not record_rows:
        return  # the policy does not list gitlab_issue
    details = details_of(req, OffboardingDetails)
    people = details.subjects
    steps: list[str] = [s for s in rt.policy.offboarding.steps if s != progress.RECORD_STEP]
    team = rt.policy.team(rt.policy.offboarding.team)
    project = str(team.tracker)
    pending = [r for r in record_rows if r.status == "pending"]
    record = details.record
    try:
        if record is None:
            if not pending:
                return
            title = record_title(req, people)
            iid, url = _file_or_find(
                project, title, record_body(req, people, steps, rows), [*team.labels, "chatops", "offboarding"]
            )
            record = _remember_record(run, req, project, iid, url, title, team.key)
        elif attempt > 1 and attempt not in details.record_notes:
            note = f"Retry (attempt {attempt}) finished:\n\n" + record_table(steps, people, rows)
            rt.require_gitlab().add_note(project, record.iid, note)
            _note_added(req.id or 0, attempt)
    except (ProviderError, NotConfiguredError) as exc:
        outcome = failed(describe_error(exc) if isinstance(exc, ProviderError) else str(exc))
    else:
        outcome = done(f"filed as {record.project}#{record.iid}")
    if pending:
        write_outcomes(req.id or 0, [Recorded(r.id or 0, r.subject, r.step, outcome) for r in pending])


def _record_of(request_id: int) -> RecordIssue | None:
    with runtime.current().db.session() as session:
        req = session.get(Request, request_id)
        assert req is not None
        return details_of(req, OffboardingDetails).record


def _remember_record(run: Run, req: Request, project: str, iid: int, url: str, title: str, team: str) -> RecordIssue:
    record = RecordIssue(project=project, iid=iid, web_url=url)
    with runtime.current().db.session() as session:
        row = session.get(Request, req.id)
        assert row is not None
        details = details_of(row, OffboardingDetails)
        details.record = record
        store_details(row, details)
        session.add(row)
        known = session.exec(
            select(TrackedIssue).where(TrackedIssue.project == project, TrackedIssue.iid == iid)
        ).first()
        if known is None:
            session.add(
                TrackedIssue(
                    project=project,
                    iid=iid,
                    web_url=url,
                    title=title,
                    team=team,
                    kind="offboarding",
                    request_id=req.id,
                    confidential=True,
                    requester_email=req.requester_email,
                    requester_slack_id=req.requester_slack_id,
                    channel_id=run.progress_channel,
                    thread_ts=run.progress_ts,
                )
            )
        audit.append(
            session,
            actor="engops-bot",
            action="gitlab.offboarding_record",
            request_id=req.id,
            detail={"project": project, "iid": iid},
        )
    return record


def _note_added(request_id: int, attempt: int) -> None:
    with runtime.current().db.session() as session:
        row = session.get(Request, request_id)
        assert row is not None
        details = details_of(row, OffboardingDetails)
        details.record_notes = [*details.record_notes, attempt]
        store_details(row, details)
        session.add(row)
        audit.append(
            session,
            actor="engops-bot",
            action="gitlab.offboarding_record_note",
            request_id=request_id,
            detail={"attempt": attempt},
        )


@step(
    "workflows.offboarding_record.note_on_offboarding_record",
    retries_allowed=True,
    max_attempts=3,
    interval_seconds=2.0,
)
def note_on_offboarding_record(request_id: int, text: str) -> None:
    """Best effort: tell the record what happened after it was filed (e.g. an undo)."""
    record = _record_of(request_id)
    if record is None:
        return
    try:
        runtime.current().require_gitlab().add_note(record.project, record.iid, gitlab_safe(text))
    except (ProviderError, NotConfiguredError) as exc:
        log.warning("could not add a note to the record of REQ-%s: %s", request_id, exc)
