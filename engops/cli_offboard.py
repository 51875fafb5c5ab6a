"""`engops offboard --file people.csv --as <email> [--no-wait]`: one bulk offboarding request from a CSV.

The request goes through the same approval in Slack as `/offboard`; the worker runs it. This
process only stores the request, hands it to the worker through the database, and (unless
`--no-wait`) shows a progress bar read from the database until the run ends.
"""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy import func
from sqlmodel import col, select

from bot.db import queries
from bot.db.details import details_of
from bot.db.engine import Database
from bot.db.models import Person, Request, RequestStatus, RoleMember, Run, RunStep
from bot.policy import Policy
from bot.settings import Settings
from workflows.engine.durable import ClientDispatcher, Dispatcher
from workflows.offboarding.details import OffboardingDetails

_EMAIL = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+")
STOPPED = (RequestStatus.DENIED, RequestStatus.EXPIRED, RequestStatus.CANCELLED)  # before it ran
FINAL = (RequestStatus.DONE, RequestStatus.PARTLY_FAILED, RequestStatus.FAILED, *STOPPED, RequestStatus.UNDONE)
WAITING: dict[str, str] = {
    RequestStatus.SUBMITTED: "Preparing the plan",
    RequestStatus.PENDING: "Waiting for approval in Slack",
    RequestStatus.APPROVED: "Approved; starting",
    RequestStatus.RUNNING: "Offboarding",
}
POLL_EVERY = 0.5


class CsvError(Exception):
    """The file as a whole cannot be used (missing, no header, no `email` column)."""


@dataclass(frozen=True)
class Row:
    line: int
    email: str
    reason: str


@dataclass(frozen=True)
class BadRow:
    line: int
    problem: str


def read_people(path: Path, email_domain: str) -> tuple[list[Row], list[BadRow]]:
    """The people to offboard, and the rows left out with their line numbers (1 is the header)."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise CsvError(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        reader = csv.reader(handle)
        try:
            header = [h.strip().lower() for h in next(reader)]
        except StopIteration:
            raise CsvError(f"{path} is empty; it needs a header row with an `email` column") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise CsvError(f"{path}: line 1: {exc}") from None
        if "email" not in header:
            raise CsvError(f"{path}: the header row has no `email` column (found: {', '.join(header) or 'nothing'})")
        rows: list[Row] = []
        bad: list[BadRow] = []
        seen: dict[str, int] = {}
        while True:
            line = reader.line_num + 1
            try:
                fields = next(reader)
            except StopIteration:
                break
            except (csv.Error, UnicodeDecodeError) as exc:
                bad.append(BadRow(line, f"unreadable ({exc})"))
                continue
            if not any(f.strip() for f in fields):
                continue  # a blank line
            problem, row = _check(
                dict(zip(header, fields, strict=False)), len(fields) > len(header), line, email_domain, seen
            )
            if problem:
                bad.append(BadRow(line, problem))
            elif row:
                seen[row.email] = line
                rows.append(row)
    return rows, bad


def _check(
    values: dict[str, str], too_long: bool, line: int, domain: str, seen: dict[str, int]
) -> tuple[str | None, Row | None]:
    email = (values.get("email") or "").strip().lower()
    if too_long:
        return "more fields than the header row", None
    if not email:
        return "no email", None
    if not _EMAIL.fullmatch(email):
        return f"not an email address: {email[:80]!r}", None
    from workflows.engine.identity import outside_domain  # the same rule as /offboard's

    if outside := outside_domain(email, domain):
        return outside.text, None
    if email in seen:
        return f"{email} repeats line {seen[email]}", None
    return None, Row(line, email, (values.get("reason") or "").strip()[:500])


def _role_cache_filled(db: Database) -> bool:
    with db.session() as session:
        return session.exec(select(RoleMember.id).limit(1)).first() is not None


def _requester(db: Database, settings: Settings, email: str) -> str | None:
    """The requester's Slack id: from the directory cache, else asked of Slack."""
    with db.session() as session:
        person = session.exec(select(Person).where(Person.email == email)).first()
        if person is not None:
            return person.slack_id
    from bot.slack.messenger import Messenger, make_client

    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    user = Messenger(make_client(token, settings.slack_api_url)).user_by_email(email)
    return user.id if user else None


def submit(
    db: Database, dispatcher: Dispatcher, settings: Settings, policy: Policy, path: Path, as_email: str, err: Console
) -> Request | None:
    """Check the file and the requester, then store the request. None (with the reasons printed) when refused."""
    from workflows.engine.approvals import open_request
    from workflows.offboarding.flow import may_offboard, new_request, refusal_text

    try:
        rows, bad = read_people(path, policy.org.email_domain)
    except CsvError as exc:
        err.print(f"[red]{exc}[/red]", highlight=False)
        return None
    for row in bad:
        err.print(f"{path.name}: line {row.line}: {row.problem} — left out", highlight=False)
    requester = as_email.strip().lower()
    with db.session() as session:
        roles = queries.roles_of(session, requester)
    if not may_offboard(policy, requester, roles):
        err.print(f"--as {requester}: {refusal_text(policy)}", highlight=False)
        if not _role_cache_filled(db):
            err.print("The bot's role cache is empty: start the worker (`engops worker` or `engops serve`) first.")
        return None
    if not rows:
        err.print(f"{path.name}: nobody to offboard.", highlight=False)
        return None
    if any(row.email == requester for row in rows):
        err.print(f"--as {requester}: you cannot offboard yourself; remove that row.", highlight=False)
        return None
    slack_id = _requester(db, settings, requester)
    if slack_id is None:
        err.print(f"--as {requester}: no Slack user has this email; the requester must be in Slack.")
        return None
    common = {row.reason for row in rows}
    reason = next(iter(common)) if len(common) == 1 and "" not in common else f"bulk offboarding from {path.name}"
    return open_request(
        db,
        dispatcher,
        new_request(
            policy,
            requester_slack_id=slack_id,
            requester_email=requester,
            emails=[r.email for r in rows],
            reason=reason,
            reasons={r.email: r.reason for r in rows},
            source=path.name,
            channel_id=None,
        ),
    )


def _state(db: Database, request_id: int) -> tuple[Request, int, int, list[RunStep]]:
    """The request, steps finished, steps in all, and the failed steps."""
    from workflows.offboarding.progress import UNDO_STEPS

    with db.session() as session:
        req = session.get(Request, request_id)
        assert req is not None
        run = session.exec(select(Run).where(Run.request_id == request_id)).first()
        if run is None:
            return req, 0, 0, []
        counts = dict(
            session.exec(
                select(RunStep.status, func.count())
                .where(RunStep.run_id == run.id)
                .where(col(RunStep.step).not_in(UNDO_STEPS))
                .group_by(col(RunStep.status))
            ).all()
        )
        failures = list(
            session.exec(
                select(RunStep)
                .where(RunStep.run_id == run.id, RunStep.status == "failed")
                .order_by(col(RunStep.subject), col(RunStep.position))
            )
        )
    total = sum(counts.values())
    return req, total - counts.get("pending", 0), total, failures


def wait_for_run(
    db: Database,
    request_id: int,
    out: Console,
    *,
    poll: float = POLL_EVERY,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Show a progress bar until the request's run ends; the exit code says how it ended."""
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=out, transient=False) as bar:
        task = bar.add_task(f"REQ-{request_id}", total=None)
        while True:
            req, finished, total, failures = _state(db, request_id)
            label = WAITING.get(req.status, req.status.replace("_", " "))
            bar.update(task, description=f"{req.ref} {label}", completed=finished, total=total or None)
            if req.status in FINAL:
                break
            sleep(poll)
    return _report(req, failures, out)


def _report(req: Request, failures: list[RunStep], out: Console) -> int:
    details = details_of(req, OffboardingDetails)
    people = len(details.subjects)
    record = details.record.web_url if details.record else None
    if req.status == RequestStatus.DONE:
        out.print(
            f"{req.ref} done: {people} people offboarded." + (f" Record: {record}" if record else ""), highlight=False
        )
        return 0
    if req.status in STOPPED:
        why = f": {req.deny_reason}" if req.deny_reason else ""
        out.print(
            f"{req.ref} {req.status.replace('_', ' ')} by {req.decided_by_email or 'nobody'}{why}", highlight=False
        )
        return 1
    out.print(
        f"{req.ref} {req.status.replace('_', ' ')}: {len(failures)} step(s) failed. "
        "Use Retry failed steps on the progress message in Slack.",
        highlight=False,
    )
    for row in failures[:20]:
        out.print(f"  {row.subject} {row.step}: {row.detail}", highlight=False)
    if len(failures) > 20:
        out.print(f"  …and {len(failures) - 20} more", highlight=False)
    return 1


def offboard_from_csv(
    settings: Settings,
    policy: Policy,
    path: Path,
    as_email: str,
    *,
    wait: bool,
    out: Console | None = None,
    err: Console | None = None,
) -> int:
    """The whole command; returns the exit code (0 submitted/done, 1 not done, 2 refused)."""
    out = out or Console(soft_wrap=True)
    err = err or Console(stderr=True, soft_wrap=True)
    db = Database(settings.database_url)
    dispatcher = ClientDispatcher(settings.database_url)
    try:
        req = submit(db, dispatcher, settings, policy, path, as_email, err)
        if req is None:
            return 2
        people = len(details_of(req, OffboardingDetails).subjects)
        approvers = ", ".join(policy.offboarding.approvals)
        out.print(
            f"{req.ref}: offboarding of {people} people submitted; it waits for approval by {approvers} in Slack.",
            highlight=False,
        )
        if not wait:
            return 0
        assert req.id is not None
        return wait_for_run(db, req.id, out)
    finally:
        dispatcher.close()
        db.dispose()
