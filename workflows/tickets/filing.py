"""IT requests and escalations filed as triaged GitLab issues (SPEC §6.4), durably.

A handler checks the form and calls `open_filing` (database only). The durable workflow
`file_issue(request_id, attempt)` then
1. resolves the requester and opens the request's Slack thread (a message in the channel it came
   from, or the escalated message's own thread) and its permalink;
2. for escalations, reads the thread transcript (`conversations.replies`);
3. looks for an open issue of the same requester in the same tracker with a near-identical title,
   and if there is one offers (DM, buttons) to add to it instead — then stops until they choose;
4. files the issue: labels, DRIs assigned, confidential when needed, every piece of user text
   made safe by `bot.gitlab_text`; the title ends with `(REQ-n)`, which makes a retry after a lost
   answer find the issue it already filed instead of filing it twice;
5. posts the link in the thread and DMs it to the requester.
A tracker that answers 404/403 fails the request with a clear message and a **Retry filing**
button (the generic retry of `workflows.engine.approvals`); a request is never lost. 429s and 5xx are
retried (the adapter honours `Retry-After`; the step is retried again on top of that).
"""

from __future__ import annotations

import difflib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dbos._error import DBOSMaxStepRetriesExceeded  # what a step raises once its retries are used up
from sqlalchemy import update
from sqlmodel import col, select

from bot import audit
from bot.db import queries
from bot.db.engine import Database
from bot.db.models import Request, TrackedIssue
from bot.gitlab_text import from_slack, gitlab_safe, gitlab_title
from bot.policy import Policy, Team
from bot.providers.errors import AuthError, NotFoundError, ProviderError, TransientError
from bot.providers.gitlab import FiledIssue, IssueTracker, open_issues_filed_by_bot
from bot.slack import triage_views
from bot.slack.escape import escape
from bot.slack.messenger import SlackCallError
from workflows.engine import people, runtime
from workflows.engine.approvals import Outcome, refresh_cards
from workflows.engine.durable import Dispatcher, durable, enqueue, step
from workflows.engine.handover import deliver, promise
from workflows.engine.kinds import register_kind
from workflows.engine.runtime import NotConfiguredError
from workflows.tickets import triage

log = logging.getLogger(__name__)

KINDS = ("it_request", "escalation")
SIMILAR_TITLE = 0.88  # difflib ratio of normalised summaries that counts as "near-identical"
TRANSCRIPT_MESSAGES = 200
TRANSCRIPT_CHARS = 40_000
_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


class FilingKind:
    """IT requests and escalations need no approval; `Retry filing` restarts `file_issue`."""

    def __init__(self, name: str) -> None:
        self.name = name

    def plan(self, req: Request) -> list[str]:
        return list(req.plan)

    def execute_workflow(self) -> str:
        return "file_issue"

    def requester_actions(self, req: Request) -> list[str]:
        return []


for _kind in KINDS:
    register_kind(FilingKind(_kind))


# --- the form (handler side, pure or database only) ---------------------------------------------
def clean(text: str | None) -> str:
    """User text without control or invisible characters, line breaks normalised, trimmed."""
    return _INVISIBLE.sub("", (text or "").replace("\r\n", "\n").replace("\r", "\n")).strip()


@dataclass(frozen=True)
class Prefill:
    summary: str
    details: str
    notice: str = ""


def prefill_from_text(text: str, *, whole_in_details: bool = False) -> Prefill:
    """`/it <text>` or an escalated message, as the form's summary and details (Slack markup made plain).

    The details get the text when it is longer than its first line, or always with `whole_in_details`."""
    plain = clean(from_slack(text))
    if not plain:
        return Prefill("", "")
    first = plain.split("\n", 1)[0].strip()
    summary = first if len(first) <= triage_views.SUMMARY_MAX else _cut(first, triage_views.SUMMARY_MAX)
    details = "" if plain == summary and not whole_in_details else plain[: triage_views.DETAILS_MAX]
    notice = ""
    if len(plain) > triage_views.DETAILS_MAX:
        notice = (
            f"Your text has {len(plain):,} characters; the form holds {triage_views.DETAILS_MAX:,} in Details, "
            "so the rest was left out. Attach it to the issue once it is filed."
        )
    return Prefill(summary, details, notice)


def _cut(text: str, limit: int) -> str:
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip() + "…"


@dataclass(frozen=True)
class FilingForm:
    kind: str  # it_request | escalation
    requester_slack_id: str
    summary: str | None
    details: str | None
    team: str | None  # a team key, triage.NOT_SURE, or None
    urgency: str | None
    reference: str | None = None
    channel_id: str | None = None
    channel_name: str | None = None
    message_ts: str | None = None  # escalations of a message
    thread_ts: str | None = None


def check_form(policy: Policy, form: FilingForm) -> dict[str, str]:
    """Inline errors by block id; empty when the form can be filed."""
    errors: dict[str, str] = {}
    summary, details = clean(form.summary), clean(form.details)
    if not summary:
        errors["summary"] = "Write a short summary of what you need."
    elif len(summary) > triage_views.SUMMARY_MAX:
        errors["summary"] = f"Keep the summary to {triage_views.SUMMARY_MAX} characters; put the rest in Details."
    if len(details) > triage_views.DETAILS_MAX:
        errors["details"] = (
            f"Details hold at most {triage_views.DETAILS_MAX:,} characters; "
            "attach longer logs to the issue once it is filed."
        )
    elif form.kind == "escalation" and not details:
        errors["details"] = "Say what the escalation is about."
    if form.team not in (None, triage.NOT_SURE, *policy.teams):
        errors["team"] = "Pick a team from the list, or “Not sure”."
    if form.urgency is not None and form.urgency not in triage.URGENCIES:
        errors["urgency"] = "Pick an urgency from the list."
    if len(clean(form.reference)) > triage_views.REFERENCE_MAX:
        errors["reference"] = f"Keep the ticket reference to {triage_views.REFERENCE_MAX} characters."
    return errors


def open_filing(db: Database, dispatcher: Dispatcher, policy: Policy, form: FilingForm) -> Request:
    """Store the request, triaged, and hand it to `file_issue`. Call `check_form` first."""
    summary, details, reference = clean(form.summary), clean(form.details), clean(form.reference)
    choice = triage.choose_team(
        policy, chosen=form.team, channel_name=form.channel_name, summary=summary, details=details
    )
    urgency = form.urgency if form.urgency in triage.URGENCIES else triage.DEFAULT_URGENCY
    team = policy.team(choice.team)
    origin = {
        "channel": form.channel_id,
        "name": form.channel_name,
        "message_ts": form.message_ts,
        "thread_ts": form.thread_ts or form.message_ts,
    }
    with db.session() as session:
        req = Request(
            kind=form.kind,
            status="running",
            requester_email=queries.email_of(session, form.requester_slack_id) or "",
            requester_slack_id=form.requester_slack_id,
            summary=summary,
            reason=details,
            attempt=1,
            plan=[f"GitLab: file an issue in {team.tracker} ({team.name})"],
            details={
                "team": choice.team,
                "team_how": choice.how,
                "team_matched": list(choice.matched),
                "urgency": urgency,
                "reference": reference,
                "origin": origin,
                "confidential": triage.confidential_reasons(summary, details, reference),
            },
        )
        session.add(req)
        session.flush()
        audit.append(
            session,
            actor=req.requester_email or form.requester_slack_id,
            action="request.submitted",
            subject=req.requester_email,
            request_id=req.id,
            detail={"kind": form.kind, "summary": summary, "team": choice.team, "how": choice.how},
        )
        assert req.id is not None
        job = promise(session, "file_issue", f"execute-{req.id}-1", req.id, 1)
    deliver(dispatcher, job)
    return req


def answer_duplicate_offer(
    db: Database, dispatcher: Dispatcher, request_id: int, clicker: str, *, add: bool, now: datetime
) -> Outcome:
    """The requester's choice on the duplicate offer: add to the existing issue, or file anyway."""
    with db.session() as session:
        req = session.get(Request, request_id)
        if req is None or req.kind not in KINDS:
            return Outcome(False, f"REQ-{request_id} does not exist.")
        if clicker != req.requester_slack_id:
            return Outcome(False, f"Only the requester can decide what happens to {req.ref}.")
        attempt, version = req.attempt + (0 if add else 1), req.version + 1
        details = {**req.details, "skip_duplicate_check": not add, "chosen": "add" if add else "new"}
        moved = session.execute(
            update(Request)
            .where(col(Request.id) == request_id, col(Request.status) == "waiting_for_requester")
            .values(status="running", attempt=attempt, version=version, updated_at=now, details=details)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            return Outcome(False, f"{req.ref} is not waiting for your choice any more; nothing changed.")
        audit.append(
            session,
            actor=req.requester_email or clicker,
            action="request.duplicate_choice",
            request_id=request_id,
            detail={"choice": details["chosen"]},
        )
        if add:
            job = promise(session, "add_to_issue", f"add-{request_id}-v{version}", request_id)
        else:
            job = promise(session, "file_issue", f"execute-{request_id}-{attempt}", request_id, attempt)
    deliver(dispatcher, job)
    if add:
        return Outcome(True, f"Adding {req.ref} to the existing issue.")
    return Outcome(True, f"Filing {req.ref} as a new issue.")


# --- loading and storing --------------------------------------------------------------------------
def _load(request_id: int) -> Request:
    with runtime.current().db.session() as session:
        req = session.get(Request, request_id)
    if req is None:
        raise LookupError(f"REQ-{request_id} vanished")
    return req


def _merge_details(request_id: int, **changes: Any) -> Request:
    with runtime.current().db.session() as session:
        req = session.get(Request, request_id)
        assert req is not None
        req.details = {**req.details, **changes}
        session.add(req)
    return req


def _team(req: Request) -> Team:
    return runtime.current().policy.team(str(req.details["team"]))


def _tracked_for(request_id: int) -> TrackedIssue | None:
    with runtime.current().db.session() as session:
        return session.exec(select(TrackedIssue).where(TrackedIssue.request_id == request_id)).first()


def _issue_info(issue: FiledIssue) -> dict[str, Any]:
    return {
        "project": issue.project,
        "iid": issue.iid,
        "web_url": issue.web_url,
        "title": issue.title,
        "ref": f"{issue.project}#{issue.iid}",
    }


def _thread(req: Request) -> tuple[str, str] | None:
    thread = req.details.get("thread")
    return (str(thread["channel"]), str(thread["ts"])) if thread else None


# --- the workflow -----------------------------------------------------------------------------------
@durable("file_issue")
def file_issue(request_id: int, attempt: int) -> None:
    kind = _resolve_requester(request_id)
    _close_offer(request_id)
    _open_thread(request_id)
    if kind == "escalation":
        _collect_transcript(request_id)
    duplicate = _find_duplicate(request_id)
    if duplicate is not None:
        _offer_duplicate(request_id, duplicate)
        refresh_cards(request_id)
        return
    try:
        problem = _create_issue(request_id)
    except DBOSMaxStepRetriesExceeded:
        problem = "GitLab did not answer after several tries (it may be down or overloaded)."
    if problem is not None:
        _fail(request_id, problem)
        refresh_cards(request_id)
        return
    _announce(request_id)
    refresh_cards(request_id)
    if kind == "escalation":
        enqueue("start_escalation", f"escalation-{request_id}", request_id)


@step("workflows.filing._resolve_requester", retries_allowed=True, max_attempts=5, interval_seconds=1.0)
def _resolve_requester(request_id: int) -> str:
    req = _load(request_id)
    rt = runtime.current()
    email = req.requester_email or people.email_of(req.requester_slack_id)
    name = rt.slack.user(req.requester_slack_id).name or email
    with rt.db.session() as session:
        row = session.get(Request, request_id)
        assert row is not None
        row.requester_email = email.lower()
        row.details = {**row.details, "requester_name": name}
        session.add(row)
    return req.kind


@step("workflows.filing._open_thread", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _open_thread(request_id: int) -> None:
    """Where the request's updates go: the escalated message's thread, else a new message in the
    channel the request came from (a DM request gets its thread when the link is DMed)."""
    req = _load(request_id)
    if "thread" in req.details:
        return
    rt = runtime.current()
    origin = req.details.get("origin") or {}
    channel = origin.get("channel")
    thread: dict[str, str] | None = None
    permalink: str | None = None
    if channel and origin.get("message_ts"):
        thread = {"channel": channel, "ts": origin.get("thread_ts") or origin["message_ts"]}
        permalink = _permalink(channel, str(origin["message_ts"]))
    elif channel and str(channel)[:1] in ("C", "G"):
        text, blocks = _thread_root(req, _team(req), triage_views.FILING_STATUS)
        try:
            posted = rt.slack.post(channel, text, blocks)
        except SlackCallError as exc:  # e.g. the app is not in that channel: updates go to DMs
            log.info("cannot post %s's thread in %s: %s", req.ref, channel, exc.error)
        else:
            thread = {"channel": posted.channel, "ts": posted.ts, "ours": "yes"}
            permalink = _permalink(posted.channel, posted.ts)
    _merge_details(request_id, thread=thread, permalink=permalink)


def _permalink(channel: str, ts: str) -> str | None:
    try:
        return runtime.current().slack.permalink(channel, ts)
    except SlackCallError:
        return None


@step("workflows.filing._collect_transcript", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _collect_transcript(request_id: int) -> None:
    """The escalated thread as plain text (names resolved), kept for the issue body and its retries."""
    req = _load(request_id)
    thread = _thread(req)
    if "transcript" in req.details or thread is None:
        return
    rt = runtime.current()
    try:
        messages = rt.slack.thread_messages(thread[0], thread[1], limit=TRANSCRIPT_MESSAGES)
    except SlackCallError as exc:
        _merge_details(request_id, transcript=[], transcript_error=exc.error)
        return
    names: dict[str, str] = {}
    for message in messages:
        for user in {message.get("user") or "", *re.findall(r"<@([UW][A-Z0-9]+)", message.get("text") or "")}:
            if user and user not in names:
                try:
                    names[user] = rt.slack.user(user).name or user
                except SlackCallError:
                    names[user] = user
    transcript, used = [], 0
    for message in messages:
        text = from_slack(message.get("text") or "", names)
        used += len(text)
        if used > TRANSCRIPT_CHARS:
            transcript.append({"name": "", "at": "", "text": "(the rest of the thread is left out: too long)"})
            break
        at = datetime.fromtimestamp(float(message.get("ts") or 0), tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
        name = names.get(message.get("user") or "") or str(message.get("username") or "app")
        transcript.append({"name": name, "at": at, "text": text})
    reasons = triage.confidential_reasons(*(m["text"] for m in transcript))
    merged = sorted(set(req.details.get("confidential") or []) | set(reasons))
    _merge_details(request_id, transcript=transcript, confidential=merged)


# --- duplicates ---------------------------------------------------------------------------------------
def _normalised(title: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", title.lower()))


def similar(a: str, b: str) -> bool:
    """Near-identical titles: the same words but for small differences (typos, punctuation, case)."""
    left, right = _normalised(a), _normalised(b)
    return bool(left) and difflib.SequenceMatcher(None, left, right).ratio() >= SIMILAR_TITLE


@step("workflows.filing._find_duplicate", retries_allowed=True, max_attempts=4, interval_seconds=2.0, backoff_rate=2.0)
def _find_duplicate(request_id: int) -> dict[str, Any] | None:
    """An open issue this requester filed through the bot in the same tracker, with a near-identical title."""
    req = _load(request_id)
    if req.details.get("skip_duplicate_check") or _tracked_for(request_id) is not None:
        return None
    rt = runtime.current()
    team = _team(req)
    with rt.db.session() as session:
        rows = session.exec(
            select(TrackedIssue, Request)
            .join(Request, col(Request.id) == col(TrackedIssue.request_id))
            .where(TrackedIssue.team == team.key, TrackedIssue.requester_email == req.requester_email)
            .where(col(TrackedIssue.request_id) != request_id)
            .where(col(Request.status) == "filed")
            .order_by(col(TrackedIssue.id).desc())
        ).all()
        candidates = [(t.project, t.iid, t.request_id) for t, other in rows if similar(other.summary, req.summary)]
    if not candidates or rt.gitlab is None:
        return None
    tracker = rt.gitlab
    for project, iid, other_id in candidates[:5]:
        try:
            issue = tracker.get_issue(project, iid)
        except NotFoundError:
            continue
        except ProviderError as exc:
            if isinstance(exc, TransientError):
                raise
            return None  # the check is a courtesy: filing goes on and reports real tracker problems
        # a confidential request is never offered to go into an issue everyone can read
        if issue.state == "opened" and (issue.confidential or not req.details.get("confidential")):
            return {**_issue_info(issue), "request_id": other_id}
    return None


@step("workflows.filing._offer_duplicate", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _offer_duplicate(request_id: int, duplicate: dict[str, Any]) -> None:
    rt = runtime.current()
    req = _load(request_id)
    offer = req.details.get("offer")
    if not offer or offer.get("closed"):  # a step that ran before may have posted it already
        text, blocks = triage_views.duplicate_offer(
            ref=req.ref,
            request_id=request_id,
            issue_url=duplicate["web_url"],
            issue_ref=duplicate["ref"],
            issue_title=duplicate["title"],
        )
        posted = rt.slack.dm(req.requester_slack_id, text, blocks)
        offer = {"channel": posted.channel, "ts": posted.ts}
    with rt.db.session() as session:
        row = session.get(Request, request_id)
        assert row is not None
        row.status, row.version, row.updated_at = "waiting_for_requester", row.version + 1, rt.clock.now()
        details = {k: v for k, v in row.details.items() if k != "chosen"}
        row.details = {**details, "duplicate": duplicate, "offer": offer}
        session.add(row)
        audit.append(
            session,
            actor="engops-bot",
            action="request.duplicate_offered",
            request_id=request_id,
            subject=req.requester_email,
            detail={"issue": duplicate["ref"]},
        )


# --- filing ---------------------------------------------------------------------------------------------
def issue_title(req: Request) -> str:
    return gitlab_title(req.summary, suffix=f" ({req.ref})")


def issue_body(req: Request, team: Team, missing_dris: list[str]) -> str:
    """The issue description. Every piece of user or Slack text goes through `gitlab_safe`."""
    d = req.details
    choice = triage.TeamChoice(team.key, str(d.get("team_how", "default")), tuple(d.get("team_matched") or ()))
    urgency_label, priority = triage.URGENCIES.get(str(d.get("urgency")), triage.URGENCIES[triage.DEFAULT_URGENCY])
    requester = gitlab_safe(str(d.get("requester_name") or req.requester_email), limit=200)
    lines = [
        f"**Request:** {req.ref} · {'Escalation' if req.kind == 'escalation' else 'IT request'} filed from Slack",
        f"**Requester:** {requester} ({req.requester_email})",
        f"**Team:** {gitlab_safe(choice.describe(team.name), limit=500)}",
        f"**Urgency:** {urgency_label} (priority::{priority})",
    ]
    if d.get("permalink"):
        lines.append(f"**Slack:** {d['permalink']}")
    if d.get("reference"):
        lines.append(f"**Ticket:** {gitlab_safe(str(d['reference']), limit=500)}")
    if d.get("confidential"):
        lines.append(f"**Confidential:** {', '.join(d['confidential'])}")
    if missing_dris:
        lines.append(f"**DRIs not found in GitLab (not assigned):** {', '.join(missing_dris)}")
    lines += ["", "### Summary", "", gitlab_safe(req.summary)]
    if req.reason:
        lines += ["", "### Details", "", gitlab_safe(req.reason)]
    transcript = d.get("transcript") or []
    if transcript:
        lines += ["", "### Slack thread", ""]
        for message in transcript:
            if message.get("name"):
                lines.append(f"**{gitlab_safe(str(message['name']), limit=200)}** · {message['at']}")
            lines += [f"> {line}" for line in gitlab_safe(str(message["text"])).split("\n")]
            lines.append("")
    elif d.get("transcript_error"):
        lines += ["", f"_The Slack thread could not be read ({gitlab_safe(str(d['transcript_error']))})._"]
    lines += ["", "---", f"_Filed by EngOps Bot for {req.ref}. Updates here are posted back to the Slack thread._"]
    return "\n".join(lines)


def dri_user_ids(tracker: IssueTracker, policy: Policy, team: Team) -> tuple[list[int], list[str]]:
    """GitLab user ids of the team's DRIs (`org.gitlab_usernames`, else by email) and the ones not found."""
    found: list[int] = []
    missing: list[str] = []
    for email in team.dris:
        username = policy.gitlab_username(email)
        user_id = tracker.find_user_id(username=username) if username else tracker.find_user_id(email=email)
        if user_id is None:
            missing.append(email)
        elif user_id not in found:
            found.append(user_id)
    return found, missing


def _already_filed(tracker: IssueTracker, project: str, request_ref: str, confidential: bool) -> FiledIssue | None:
    """The issue an earlier run of this request filed (its title ends with the REQ id), if any."""
    suffix = f"({request_ref})"
    for issue in open_issues_filed_by_bot(tracker, project, request_ref, confidential=confidential):
        if issue.title.endswith(suffix):
            return issue
    return None


def tracker_problem(exc: ProviderError, team: Team) -> str:
    """What went wrong, for the requester: never the raw exception."""
    where = f"the {team.name} tracker ({team.tracker})"
    if isinstance(exc, NotFoundError):
        return f"GitLab answered 404: {where} does not exist or the bot cannot see it."
    if isinstance(exc, AuthError) and exc.status == 401:
        return "GitLab refused the bot's token (401)."
    if isinstance(exc, AuthError):
        return f"GitLab refused (403): the bot may not file issues in {where}."
    return f"GitLab refused the issue for {where}: {exc.message}"


@step("workflows.filing._create_issue", retries_allowed=True, max_attempts=4, interval_seconds=3.0, backoff_rate=2.0)
def _create_issue(request_id: int) -> str | None:
    """File the issue (once); None when filed, else why it cannot be. Transient errors raise (retried)."""
    if _tracked_for(request_id) is not None:
        return None
    rt = runtime.current()
    req = _load(request_id)
    team = _team(req)
    project = str(team.tracker)
    try:
        tracker = rt.require_gitlab()
    except NotConfiguredError as exc:
        return str(exc)
    title = issue_title(req)
    try:
        assignees, missing = dri_user_ids(tracker, rt.policy, team)
        confidential = bool(req.details.get("confidential"))
        issue = _already_filed(tracker, project, req.ref, confidential) if req.details.get("create_started") else None
        if issue is None:
            _merge_details(request_id, create_started=True)
            labels = triage.labels_for(rt.policy, team.key, str(req.details.get("urgency")), req.kind)
            issue = tracker.create_issue(
                project, title, issue_body(req, team, missing), labels, assignees, confidential
            )
    except TransientError:
        raise
    except ProviderError as exc:
        return tracker_problem(exc, team)
    _record_filed(request_id, issue, team, missing)
    return None


def _record_filed(request_id: int, issue: FiledIssue, team: Team, missing: list[str]) -> None:
    rt = runtime.current()
    now = rt.clock.now()
    with rt.db.session() as session:
        req = session.get(Request, request_id)
        assert req is not None
        thread = req.details.get("thread") or {}
        session.add(
            TrackedIssue(
                project=issue.project,
                iid=issue.iid,
                web_url=issue.web_url,
                title=issue.title,
                team=team.key,
                kind=req.kind,
                requester_email=req.requester_email,
                requester_slack_id=req.requester_slack_id,
                channel_id=thread.get("channel"),
                thread_ts=thread.get("ts"),
                request_id=request_id,
                confidential=issue.confidential,
            )
        )
        req.status, req.version, req.updated_at, req.error = "filed", req.version + 1, now, None
        req.details = {**req.details, "issue": _issue_info(issue), "dris_missing": missing}
        req.plan = [f"GitLab: filed as {issue.project}#{issue.iid} ({team.name})", issue.web_url]
        session.add(req)
        audit.append(
            session,
            actor="engops-bot",
            action="gitlab.issue_filed",
            subject=req.requester_email,
            request_id=request_id,
            detail={
                "issue": f"{issue.project}#{issue.iid}",
                "confidential": issue.confidential,
                "dris_missing": missing,
            },
        )


@step("workflows.filing._announce", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _announce(request_id: int) -> None:
    """The issue link in the request's thread and in the requester's DM (the DM is the thread when
    there is no channel)."""
    rt = runtime.current()
    req = _load(request_id)
    if req.details.get("announced"):
        return
    team, issue = _team(req), req.details["issue"]
    confidential = bool(req.details.get("confidential"))
    added = req.details.get("chosen") == "add"
    text = triage_views.filed_text(
        ref=req.ref,
        team_name=team.name,
        issue_url=issue["web_url"],
        issue_ref=issue["ref"],
        title=issue["title"],
        confidential=confidential,
        added_to_existing=added,
        paged=req.kind == "escalation" and not added,
    )
    thread = _thread(req)
    if thread is not None:
        rt.slack.post(thread[0], text, thread_ts=thread[1])
        if req.details["thread"].get("ours"):
            _mark_root(req, team, f"Filed: <{issue['web_url']}|{escape(issue['ref'])}>")
    dm = rt.slack.dm(req.requester_slack_id, text)
    with rt.db.session() as session:
        row = session.get(Request, request_id)
        assert row is not None
        row.details = {**row.details, "announced": True}
        session.add(row)
        tracked = session.exec(select(TrackedIssue).where(TrackedIssue.request_id == request_id)).first()
        if tracked is not None and tracked.thread_ts is None:
            tracked.channel_id, tracked.thread_ts = dm.channel, dm.ts
            session.add(tracked)


def _thread_root(req: Request, team: Team, status: str) -> tuple[str, list[dict[str, Any]]]:
    """The message that starts the request's thread, with `status` (mrkdwn) as its last line."""
    return triage_views.thread_root(
        ref=req.ref,
        kind=req.kind,
        requester_slack_id=req.requester_slack_id,
        team_name=team.name,
        summary=req.summary,
        confidential=bool(req.details.get("confidential")),
        status=status,
    )


def _mark_root(req: Request, team: Team, status: str) -> None:
    thread = req.details["thread"]
    text, blocks = _thread_root(req, team, status)
    try:
        runtime.current().slack.update(str(thread["channel"]), str(thread["ts"]), text, blocks)
    except SlackCallError as exc:
        log.info("cannot update %s's thread root: %s", req.ref, exc.error)


@step("workflows.filing._fail", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _fail(request_id: int, why: str) -> None:
    """Keep the request (failed, retryable) and tell the requester, in the thread and by DM."""
    rt = runtime.current()
    with rt.db.session() as session:
        req = session.get(Request, request_id)
        assert req is not None
        if req.status == "running":
            req.status, req.error, req.version, req.updated_at = "failed", why, req.version + 1, rt.clock.now()
            session.add(req)
            audit.append(
                session,
                actor="engops-bot",
                action="request.failed",
                subject=req.requester_email,
                request_id=request_id,
                detail={"why": why},
            )
    text, blocks = triage_views.failed_blocks(ref=req.ref, request_id=request_id, why=why)
    thread = _thread(req)
    if thread is not None:
        rt.slack.post(thread[0], f":warning: {req.ref} could not be filed yet: {escape(why)}", thread_ts=thread[1])
    rt.slack.dm(req.requester_slack_id, text, blocks)


# --- adding to an existing issue --------------------------------------------------------------------------
@durable("add_to_issue")
def add_to_issue(request_id: int) -> None:
    _close_offer(request_id)
    problem = _add_note(request_id)
    if problem is not None:
        _fail(request_id, problem)
        refresh_cards(request_id)
        return
    _announce(request_id)
    refresh_cards(request_id)


@step("workflows.filing._add_note", retries_allowed=True, max_attempts=4, interval_seconds=3.0, backoff_rate=2.0)
def _add_note(request_id: int) -> str | None:
    rt = runtime.current()
    req = _load(request_id)
    if req.status == "filed":
        return None
    duplicate, team = req.details["duplicate"], _team(req)
    requester = gitlab_safe(str(req.details.get("requester_name") or req.requester_email), limit=200)
    note = "\n".join(
        [
            f"**Also requested in {req.ref}** by {requester} ({req.requester_email}) from Slack",
            *([f"**Slack:** {req.details['permalink']}"] if req.details.get("permalink") else []),
            "",
            gitlab_safe(req.summary),
            *(["", gitlab_safe(req.reason)] if req.reason else []),
        ]
    )
    try:
        rt.require_gitlab().add_note(str(duplicate["project"]), int(duplicate["iid"]), note)
    except NotConfiguredError as exc:
        return str(exc)
    except TransientError:
        raise
    except ProviderError as exc:
        return tracker_problem(exc, team)
    with rt.db.session() as session:
        row = session.get(Request, request_id)
        assert row is not None
        row.status, row.version, row.updated_at, row.error = "filed", row.version + 1, rt.clock.now(), None
        row.details = {**row.details, "issue": {k: duplicate[k] for k in ("project", "iid", "web_url", "title", "ref")}}
        row.plan = [f"GitLab: added to {duplicate['ref']} ({team.name})", str(duplicate["web_url"])]
        session.add(row)
        audit.append(
            session,
            actor="engops-bot",
            action="gitlab.note_added",
            subject=row.requester_email,
            request_id=request_id,
            detail={"issue": duplicate["ref"]},
        )
    return None


@step("workflows.filing._close_offer", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _close_offer(request_id: int) -> None:
    """Once the requester chose, the duplicate offer loses its buttons and says what they chose."""
    req = _load(request_id)
    offer, chosen = req.details.get("offer"), req.details.get("chosen")
    if not offer or not chosen or offer.get("closed"):
        return
    choice = "you chose to add it to the existing issue." if chosen == "add" else "you chose to file a new issue."
    text, blocks = triage_views.offer_answered(ref=req.ref, choice=choice)
    try:
        runtime.current().slack.update(str(offer["channel"]), str(offer["ts"]), text, blocks)
    except SlackCallError as exc:
        log.info("cannot update the offer of %s: %s", req.ref, exc.error)
    _merge_details(request_id, offer={**offer, "closed": True})
