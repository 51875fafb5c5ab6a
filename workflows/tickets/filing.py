"""IT requests and escalations filed as triaged GitLab issues (SPEC §6.4), durably: the request kind and its
workflows.

A handler checks the form and calls `open_filing` (`filing_form`, database only). The durable workflow
`file_issue(request_id, attempt)` then
1. resolves the requester and opens the request's Slack thread (a message in the channel it came
   from, or the escalated message's own thread) and its permalink;
2. for escalations, reads the thread transcript (`conversations.replies`);
3. looks for an open issue of the same requester in the same tracker with a near-identical title,
   and if there is one offers (DM, buttons) to add to it instead — then stops until they choose (`duplicates`;
   adding is `add_to_issue`);
4. files the issue: labels, DRIs assigned, confidential when needed, its text from `issue_text`; the title ends
   with `(REQ-n)`, which makes a retry after a lost answer find the issue it already filed instead of filing it
   twice;
5. posts the link in the thread and DMs it to the requester.
A tracker that answers 404/403 fails the request with a clear message and a **Retry filing**
button (the generic retry of `workflows.engine.approvals`); a request is never lost. 429s and 5xx are
retried (the adapter honours `Retry-After`; the step is retried again on top of that).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from dbos._error import DBOSMaxStepRetriesExceeded  # what a step raises once its retries are used up
from sqlmodel import select

from bot import audit
from bot.db.details import store_details
from bot.db.models import Request, RequestStatus, TrackedIssue
from bot.gitlab_text import from_slack
from bot.policy import Policy, Team
from bot.providers.errors import AuthError, NotFoundError, ProviderError, TransientError
from bot.providers.gitlab import FiledIssue, IssueTracker, open_issues_filed_by_bot
from bot.slack import triage_views
from bot.slack.escape import escape
from bot.slack.messenger import SlackCallError
from workflows.engine import people, runtime
from workflows.engine.approvals import refresh_cards
from workflows.engine.durable import durable, enqueue, step
from workflows.engine.kinds import register_kind
from workflows.engine.runtime import NotConfiguredError
from workflows.tickets import triage
from workflows.tickets.details import IssueRef, SlackThread, TicketDetails, TranscriptMessage
from workflows.tickets.duplicates import close_offer, find_duplicate, offer_duplicate
from workflows.tickets.filing_form import KINDS, in_a_channel
from workflows.tickets.filing_record import (
    change_details,
    issue_info,
    load,
    mark_filed,
    team_of,
    thread_of,
    ticket_details,
    tracked_for,
)
from workflows.tickets.issue_text import issue_body, issue_title, note_text

log = logging.getLogger(__name__)

TRANSCRIPT_MESSAGES = 200
TRANSCRIPT_CHARS = 40_000
GITLAB_DOWN = "GitLab did not answer after several tries (it may be down or overloaded)."
SLACK_DOWN = "Slack did not answer after several tries, so the request's thread could not be read or started."


class FilingKind:
    """IT requests and escalations need no approval; `Retry filing` restarts `file_issue`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.details_model = TicketDetails

    def plan(self, req: Request) -> list[str]:
        return list(req.plan)

    def execute_workflow(self) -> str:
        return "file_issue"

    def requester_actions(self, req: Request) -> list[str]:
        return []

    def card_fields(self, req: Request) -> list[tuple[str, str]]:
        return []


for _kind in KINDS:
    register_kind(FilingKind(_kind))


# --- the workflows ----------------------------------------------------------------------------------
@durable("file_issue")
def file_issue(request_id: int, attempt: int) -> None:
    kind = _resolve_requester(request_id)
    close_offer(request_id)
    try:
        _open_thread(request_id)
        if kind == "escalation":
            _collect_transcript(request_id)
    except DBOSMaxStepRetriesExceeded:
        _fail(request_id, SLACK_DOWN)
        refresh_cards(request_id)
        return
    duplicate = find_duplicate(request_id)
    if duplicate is not None:
        offer_duplicate(request_id, duplicate)
        refresh_cards(request_id)
        return
    if _file_and_report(request_id, _create_issue) and kind == "escalation":
        enqueue("start_escalation", f"escalation-{request_id}", request_id)


@durable("add_to_issue")
def add_to_issue(request_id: int) -> None:
    close_offer(request_id)
    _file_and_report(request_id, _add_note)


def _file_and_report(request_id: int, file: Callable[[int], str | None]) -> bool:
    """From a workflow body: the step `file` (None once filed, else why not), then the requester is told the
    issue link or why it could not be filed, and the cards are refreshed. Whether it was filed."""
    try:
        problem = file(request_id)
    except DBOSMaxStepRetriesExceeded:
        problem = GITLAB_DOWN
    if problem is None:
        _announce(request_id)
    else:
        _fail(request_id, problem)
    refresh_cards(request_id)
    return problem is None


# --- before filing: the requester, the Slack thread, the transcript -------------------------------
@step("workflows.filing._resolve_requester", retries_allowed=True, max_attempts=5, interval_seconds=1.0)
def _resolve_requester(request_id: int) -> str:
    req = load(request_id)
    rt = runtime.current()
    email = req.requester_email or people.email_of(req.requester_slack_id)
    name = rt.slack.user(req.requester_slack_id).name or email
    with rt.db.session() as session:
        row = session.get(Request, request_id)
        assert row is not None
        row.requester_email = email.lower()
        details = ticket_details(row)
        details.requester_name = name
        store_details(row, details)
        session.add(row)
    return req.kind


@step("workflows.filing._open_thread", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _open_thread(request_id: int) -> None:
    """Where the request's updates go: the escalated message's thread, else a new message in the
    channel the request came from (a DM request gets its thread when the link is DMed)."""
    req = load(request_id)
    details = ticket_details(req)
    if details.thread_decided:
        return
    rt = runtime.current()
    channel, message_ts = details.origin.channel, details.origin.message_ts
    thread: SlackThread | None = None
    permalink: str | None = None
    if channel and message_ts:
        thread = SlackThread(channel=channel, ts=details.origin.thread_ts or message_ts)
        permalink = _permalink(channel, message_ts)
    elif channel and in_a_channel(channel):
        text, blocks = _thread_root(req, team_of(req), triage_views.FILING_STATUS)
        try:
            posted = rt.slack.post(channel, text, blocks)
        except SlackCallError as exc:
            if exc.passing:
                raise  # a passing failure: the step tries again, rather than deciding on it
            # e.g. the app is not in that channel: updates go to DMs
            log.info("cannot post %s's thread in %s: %s", req.ref, channel, exc.error)
        else:
            thread = SlackThread(channel=posted.channel, ts=posted.ts, ours="yes")
            permalink = _permalink(posted.channel, posted.ts)

    def decided(stored: TicketDetails) -> None:
        stored.thread, stored.permalink = thread, permalink

    change_details(request_id, decided)


def _permalink(channel: str, ts: str) -> str | None:
    try:
        return runtime.current().slack.permalink(channel, ts)
    except SlackCallError as exc:
        if exc.passing:
            raise  # a passing failure: the step tries again, rather than deciding on it
        return None


@step("workflows.filing._collect_transcript", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _collect_transcript(request_id: int) -> None:
    """The escalated thread as plain text (names resolved), kept for the issue body and its retries."""
    req = load(request_id)
    thread = thread_of(req)
    if ticket_details(req).transcript is not None or thread is None:
        return
    rt = runtime.current()
    try:
        messages = rt.slack.thread_messages(thread[0], thread[1], limit=TRANSCRIPT_MESSAGES)
    except SlackCallError as exc:
        if exc.passing:
            raise  # a passing failure: the step tries again, rather than deciding on it
        error = exc.error

        def unreadable(stored: TicketDetails) -> None:
            stored.transcript, stored.transcript_error = [], error

        change_details(request_id, unreadable)
        return
    names: dict[str, str] = {}
    for message in messages:
        for user in {message.get("user") or "", *re.findall(r"<@([UW][A-Z0-9]+)", message.get("text") or "")}:
            if user and user not in names:
                try:
                    names[user] = rt.slack.user(user).name or user
                except SlackCallError as exc:
                    if exc.passing:
                        raise  # a passing failure: the step tries again, rather than deciding on it
                    names[user] = user
    transcript: list[TranscriptMessage] = []
    used = 0
    for message in messages:
        text = from_slack(message.get("text") or "", names)
        used += len(text)
        if used > TRANSCRIPT_CHARS:
            transcript.append(TranscriptMessage(name="", at="", text="(the rest of the thread is left out: too long)"))
            break
        at = datetime.fromtimestamp(float(message.get("ts") or 0), tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
        name = names.get(message.get("user") or "") or str(message.get("username") or "app")
        transcript.append(TranscriptMessage(name=name, at=at, text=text))
    reasons = triage.confidential_reasons(*(m.text for m in transcript))

    def read(stored: TicketDetails) -> None:
        stored.transcript = transcript
        stored.confidential = sorted(set(stored.confidential) | set(reasons))

    change_details(request_id, read)


# --- filing -------------------------------------------------------------------------------------------------
def _in_tracker(team: Team, work: Callable[[IssueTracker], None]) -> str | None:
    """Do `work` in GitLab: None when done, else why it cannot be (for the requester). Transient errors raise,
    so the step is retried."""
    try:
        work(runtime.current().require_gitlab())
    except NotConfiguredError as exc:
        return str(exc)
    except TransientError:
        raise
    except ProviderError as exc:
        return tracker_problem(exc, team)
    return None


@step("workflows.filing._create_issue", retries_allowed=True, max_attempts=4, interval_seconds=3.0, backoff_rate=2.0)
def _create_issue(request_id: int) -> str | None:
    """File the issue (once); None when filed, else why it cannot be. Transient errors raise (retried)."""
    if tracked_for(request_id) is not None:
        return None
    req = load(request_id)
    team = team_of(req)
    return _in_tracker(team, lambda tracker: _file_new(tracker, req, team))


def _file_new(tracker: IssueTracker, req: Request, team: Team) -> None:
    assert req.id is not None
    policy, project = runtime.current().policy, str(team.tracker)
    assignees, missing = dri_user_ids(tracker, policy, team)
    details = ticket_details(req)
    confidential = bool(details.confidential)
    issue = _already_filed(tracker, project, req.ref, confidential) if details.create_started else None
    if issue is None:
        change_details(req.id, _create_started)
        labels = triage.labels_for(policy, team.key, details.urgency, req.kind)
        issue = tracker.create_issue(
            project, issue_title(req), issue_body(req, team, missing), labels, assignees, confidential
        )
    _record_filed(req.id, issue, team, missing)


def _create_started(stored: TicketDetails) -> None:
    stored.create_started = True


def _record_filed(request_id: int, issue: FiledIssue, team: Team, missing: list[str]) -> None:
    with runtime.current().db.session() as session:
        req = session.get(Request, request_id)
        assert req is not None
        thread = ticket_details(req).thread
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
                channel_id=thread.channel if thread else None,
                thread_ts=thread.ts if thread else None,
                request_id=request_id,
                confidential=issue.confidential,
            )
        )
        mark_filed(
            session,
            req,
            issue_info(issue),
            team,
            "filed as",
            action="gitlab.issue_filed",
            detail={
                "issue": f"{issue.project}#{issue.iid}",
                "confidential": issue.confidential,
                "dris_missing": missing,
            },
            dris_missing=missing,
        )


@step("workflows.filing._add_note", retries_allowed=True, max_attempts=4, interval_seconds=3.0, backoff_rate=2.0)
def _add_note(request_id: int) -> str | None:
    """Add the request to the issue the requester chose (once); None when added, else why it cannot be."""
    req = load(request_id)
    if req.status == RequestStatus.FILED:
        return None
    duplicate, team = ticket_details(req).duplicate, team_of(req)
    assert duplicate is not None  # the requester chose to add to it
    problem = _in_tracker(team, lambda tracker: tracker.add_note(duplicate.project, duplicate.iid, note_text(req)))
    if problem is not None:
        return problem
    with runtime.current().db.session() as session:
        row = session.get(Request, request_id)
        assert row is not None
        issue = IssueRef.model_validate(duplicate.model_dump())  # without the other request's id
        mark_filed(session, row, issue, team, "added to", action="gitlab.note_added", detail={"issue": duplicate.ref})
    return None


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


# --- after filing: the link, or why it could not be filed ------------------------------------------
@step("workflows.filing._announce", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _announce(request_id: int) -> None:
    """The issue link in the request's thread and in the requester's DM (the DM is the thread when
    there is no channel)."""
    rt = runtime.current()
    req = load(request_id)
    details = ticket_details(req)
    if details.announced:
        return
    team, issue = team_of(req), details.issue
    assert issue is not None  # filed
    added = details.chosen == "add"
    text = triage_views.filed_text(
        ref=req.ref,
        team_name=team.name,
        issue_url=issue.web_url,
        issue_ref=issue.ref,
        title=issue.title,
        confidential=bool(details.confidential),
        added_to_existing=added,
        paged=req.kind == "escalation" and not added,
    )
    thread = thread_of(req)
    if thread is not None:
        rt.slack.post(thread[0], text, thread_ts=thread[1])
        if details.thread is not None and details.thread.ours:
            _mark_root(req, team, f"Filed: <{issue.web_url}|{escape(issue.ref)}>")
    dm = rt.slack.dm(req.requester_slack_id, text)
    with rt.db.session() as session:
        row = session.get(Request, request_id)
        assert row is not None
        announced = ticket_details(row)
        announced.announced = True
        store_details(row, announced)
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
        confidential=bool(ticket_details(req).confidential),
        status=status,
    )


def _mark_root(req: Request, team: Team, status: str) -> None:
    thread = thread_of(req)
    assert thread is not None
    text, blocks = _thread_root(req, team, status)
    try:
        runtime.current().slack.update(thread[0], thread[1], text, blocks)
    except SlackCallError as exc:  # the root's "Filed: <link>" is cosmetic: the link is in the thread and the DM
        log.info("cannot update %s's thread root: %s", req.ref, exc.error)


@step("workflows.filing._fail", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _fail(request_id: int, why: str) -> None:
    """Keep the request (failed, retryable) and tell the requester, in the thread and by DM."""
    rt = runtime.current()
    with rt.db.session() as session:
        req = session.get(Request, request_id)
        assert req is not None
        if req.status == RequestStatus.RUNNING:
            req.status, req.error = RequestStatus.FAILED, why
            req.version, req.updated_at = req.version + 1, rt.clock.now()
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
    thread = thread_of(req)
    if thread is not None:
        rt.slack.post(thread[0], f":warning: {req.ref} could not be filed yet: {escape(why)}", thread_ts=thread[1])
    rt.slack.dm(req.requester_slack_id, text, blocks)
