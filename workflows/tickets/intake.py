"""Intake by emoji (SPEC §6.4, GitLab's #it_help practice): in an `intake.channels` channel, a help-desk member
reacting with `intake.reaction` files the message's thread as an escalation — the same triage, transcript and
paging as the "Escalate to EngOps" shortcut, through the same `filing_form.open_filing` and `file_issue`.

1. The listener (commands/intake.py, database only) drops what cannot count (another emoji, not a message, the bot's
   own message, someone not on the help desk: `reaction_counts`, `permissions.intake`) and hands the rest to
   `intake_reaction`, one workflow per delivered event (Slack's retries of an event are the same workflow).
2. `intake_reaction` reads the channel's name and the message (Slack calls: not on the ack path), drops reactions
   outside the intake channels, and hands the thread to `intake_thread`: one workflow per thread, however many
   people react and on whichever of its messages, so a thread is filed once.
3. `intake_thread` claims the thread (`intake_thread` table, unique channel and thread, so a thread is never filed
   twice even when DBOS has long forgotten the workflow) and triages it. The requester is the help-desk member who
   reacted; the message's first line is the summary and its text the details, as the shortcut pre-fills them.
   - Triage is sure: the escalation is stored and handed to `file_issue` (which reads the thread's transcript,
     posts the issue link in the thread and pages the DRIs), and the bot reacts :white_check_mark: on the message
     (`FILED_REACTION`: "taken, REQ-n is on its way").
   - The team classifier is unsure: the bot asks in the thread which of the two likeliest teams should take it
     (one button each, `bot/slack/intake_views.py`); a help-desk member's click runs `intake_choice`, which files
     it there (`TeamChoice(team, "asked")`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from dbos._error import DBOSMaxStepRetriesExceeded  # what a step raises once its retries are used up
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot import audit, permissions
from bot.db import queries
from bot.db.engine import Database
from bot.db.models import IntakeThread, Request
from bot.policy import Intake, Policy
from bot.providers.errors import ProviderError
from bot.slack import intake_views
from bot.slack.messenger import SlackCallError
from workflows.engine import people, runtime
from workflows.engine.durable import Dispatcher, durable, enqueue, step
from workflows.engine.sweep import Job
from workflows.tickets.filing_form import (
    FilingForm,
    check_form,
    check_pick,
    open_filing,
    prefill_from_text,
    should_ask,
    team_blurb,
    triage_form,
)
from workflows.tickets.filing_record import load, ticket_details
from workflows.tickets.triage import TeamChoice

log = logging.getLogger(__name__)

FILED_REACTION = "white_check_mark"  # the bot's reaction on a message it filed
NO_TEXT_DETAILS = "(The message has no text of its own; the Slack thread below is the escalation.)"
# Messages that are not anyone's words: Slack's notices of joins, renames, pins.
NOTICES = frozenset(
    {
        "channel_join",
        "channel_leave",
        "channel_topic",
        "channel_purpose",
        "channel_name",
        "channel_archive",
        "channel_unarchive",
        "pinned_item",
        "unpinned_item",
    }
)


# --- the ack path: which reactions count, and who -------------------------------------------------------------------
@dataclass(frozen=True)
class Reaction:
    channel: str
    message_ts: str
    reactor: str  # the Slack id of who reacted


def reaction_counts(intake: Intake | None, event: dict[str, Any], bot_user: str | None) -> Reaction | None:
    """The reaction a `reaction_added` event reports, if it can file a thread: the intake emoji (any skin tone), on a
    message, not on the bot's own message. Whether the channel is an intake channel is known after the ack."""
    if intake is None:
        return None
    item = event.get("item")
    reaction, user = str(event.get("reaction") or ""), str(event.get("user") or "")
    if not isinstance(item, dict) or item.get("type") != "message" or not user:
        return None
    if reaction.split("::", 1)[0] != intake.reaction:
        return None
    channel, ts = str(item.get("channel") or ""), str(item.get("ts") or "")
    if not channel or not ts or (bot_user and (event.get("item_user") == bot_user or user == bot_user)):
        return None
    return Reaction(channel, ts, user)


def take_reaction(
    dispatcher: Dispatcher, reaction: Reaction, event_id: str, bot_user: str, *, check_live: bool
) -> None:
    """Hand a counting reaction to `intake_reaction` (the event id names it: a redelivered event is the same work)."""
    workflow_id = f"intake-{reaction.channel}-{reaction.message_ts}-{event_id}"
    dispatcher.enqueue(
        "intake_reaction", workflow_id, reaction.channel, reaction.message_ts, reaction.reactor, bot_user, check_live
    )


def take_pick(dispatcher: Dispatcher, channel: str, question_ts: str, pick: intake_views.Pick, picker: str) -> None:
    """Hand a help-desk member's pick of the team to `intake_choice`: one per thread (two clicks at once: one)."""
    guess = pick.guess
    dispatcher.enqueue(
        "intake_choice",
        f"intake-choice-{channel}-{pick.thread_ts}",
        channel,
        pick.thread_ts,
        pick.message_ts,
        question_ts,
        pick.team,
        picker,
        [guess.team, guess.runner_up, guess.confidence, list(guess.matched)],
    )


def thread_workflow_id(channel: str, thread_ts: str) -> str:
    return f"intake-thread-{channel}-{thread_ts}"


# --- the workflows --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Looked:
    """The reacted message, as intake files it."""

    channel_name: str
    thread_ts: str
    text: str
    author: str  # its author's Slack id ("" when it has none)


@durable("intake_reaction")
def intake_reaction(channel: str, message_ts: str, reactor: str, bot_user: str, check_live: bool) -> None:
    try:
        if check_live and not _on_the_help_desk(reactor):
            return
        looked = _look(channel, message_ts, bot_user)
    except DBOSMaxStepRetriesExceeded:
        log.warning("intake: Slack or Okta did not answer for %s in %s; nothing filed", message_ts, channel)
        return
    if looked is None:
        return
    enqueue(
        "intake_thread",
        thread_workflow_id(channel, looked.thread_ts),
        channel,
        looked.thread_ts,
        message_ts,
        reactor,
        looked.channel_name,
        looked.text,
        looked.author,
    )


@durable("intake_thread")
def intake_thread(
    channel: str, thread_ts: str, message_ts: str, reactor: str, channel_name: str, text: str, author: str
) -> None:
    looked = Looked(channel_name, thread_ts, text, author)
    if not _claim(channel, thread_ts, reactor).ours:
        return  # another reaction claimed it at the same moment, or it was filed (or asked about) long ago
    form = intake_form(channel, message_ts, reactor, looked)
    choice = _triage(form)
    if should_ask(choice):  # the classifier is unsure: as the modal does, ask rather than guess
        try:
            _ask(channel, thread_ts, message_ts, reactor, looked, choice)
        except DBOSMaxStepRetriesExceeded:
            log.warning("intake: could not ask which team takes the thread %s in %s", thread_ts, channel)
        return
    _file_and_confirm(channel, thread_ts, message_ts, form, choice)


@durable("intake_choice")
def intake_choice(
    channel: str, thread_ts: str, message_ts: str, question_ts: str, team: str, picker: str, guess: list[Any]
) -> None:
    """`guess`: what the classifier thought when it asked ([team, runner-up, confidence, words])."""
    waiting = _waiting(channel, thread_ts)
    if waiting.request_id is not None:
        _answer_question(channel, question_ts, "filed", waiting.request_id, picker, team)
        return
    asked = asked_choice(runtime.current().policy, guess)
    if waiting.reacted_by is None or check_pick(asked, team):
        _answer_question(channel, question_ts, "gone", None, picker, team)
        return
    try:
        looked = _look(channel, message_ts, "")
    except DBOSMaxStepRetriesExceeded:
        log.warning("intake: Slack did not answer for the message %s in %s; not filed yet", message_ts, channel)
        return
    if looked is None:
        _answer_question(channel, question_ts, "gone", None, picker, team)
        return
    form = intake_form(channel, message_ts, waiting.reacted_by, looked)
    request_id = _file_and_confirm(channel, thread_ts, message_ts, form, TeamChoice(team, "asked"), picker, asked)
    _answer_question(channel, question_ts, "picked", request_id, picker, team)


def _answer_question(channel: str, question_ts: str, how: str, request_id: int | None, picker: str, team: str) -> None:
    """From a workflow body: the question's buttons give way to the answer (cosmetic: a Slack outage skips it)."""
    try:
        _settle(channel, question_ts, how, request_id, picker, team)
    except DBOSMaxStepRetriesExceeded:
        log.info("intake: could not update the question %s in %s", question_ts, channel)


def asked_choice(policy: Policy, guess: list[Any]) -> TeamChoice | None:
    """The classifier's unsure choice a question was asked for ([team, runner-up, confidence, words]); None when it
    names teams the policy no longer has."""
    if len(guess) != 4:
        return None
    team, runner_up, confidence, matched = guess
    if not (isinstance(team, str) and isinstance(runner_up, str) and {team, runner_up} <= set(policy.teams)):
        return None
    words = tuple(str(w) for w in matched) if isinstance(matched, list) else ()
    sure = float(confidence) if isinstance(confidence, (int, float)) else None
    return TeamChoice(team, "model", words, sure, runner_up, unsure=True)


def _file_and_confirm(
    channel: str,
    thread_ts: str,
    message_ts: str,
    form: FilingForm,
    choice: TeamChoice,
    picker: str | None = None,
    asked: TeamChoice | None = None,
) -> int:
    """From a workflow body: store the escalation, hand it to `file_issue`, react on the message. Its request id."""
    filed = _file(channel, thread_ts, form, choice, picker, asked)
    for workflow, workflow_id, args in filed.jobs:
        enqueue(workflow, workflow_id, *args)
    try:
        _react(channel, message_ts)
    except DBOSMaxStepRetriesExceeded:
        log.info("intake: could not react on %s in %s (the link is posted in the thread)", message_ts, channel)
    return filed.request_id


def intake_form(channel: str, message_ts: str, requester: str, looked: Looked) -> FilingForm:
    """The escalation of a reacted message, as the shortcut's modal would be submitted untouched: its first line as
    the summary and its text as the details (the thread goes into the issue as the transcript)."""
    prefill = prefill_from_text(looked.text, whole_in_details=True)
    summary = prefill.summary or f"Slack thread in #{looked.channel_name}"
    return FilingForm(
        kind="escalation",
        requester_slack_id=requester,
        summary=summary,
        details=prefill.details or NO_TEXT_DETAILS,
        team=None,
        urgency=None,
        channel_id=channel,
        channel_name=looked.channel_name,
        message_ts=message_ts,
        thread_ts=looked.thread_ts,
    )


# --- the steps ------------------------------------------------------------------------------------------------------
@step("workflows.tickets.intake._on_the_help_desk", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _on_the_help_desk(reactor: str) -> bool:
    """Read live when the role cache could not say (the bot has just started)."""
    try:
        actor = people.live_actor(reactor)
    except SlackCallError as exc:
        if exc.passing:
            raise  # the step tries again
        log.warning("intake: cannot read %s's roles live (%s); their reaction files nothing", reactor, exc.error)
        return False
    except (ProviderError, LookupError) as exc:
        log.warning("intake: cannot read %s's roles live (%s); their reaction files nothing", reactor, exc)
        return False
    return permissions.intake(actor).ok


@step("workflows.tickets.intake._look", retries_allowed=True, max_attempts=4, interval_seconds=1.0, backoff_rate=2.0)
def _look(channel: str, message_ts: str, bot_user: str) -> Looked | None:
    """The reacted message if intake files it: in an intake channel, someone's words, not the bot's."""
    rt = runtime.current()
    intake = rt.policy.intake
    if intake is None:
        return None
    try:
        name = runtime.current().slack.channel_name(channel)
        if name is None or "#" + name.lower() not in intake.channels:
            return None
        message = runtime.current().slack.message(channel, message_ts)
    except SlackCallError as exc:
        if exc.passing:
            raise  # the step tries again
        log.info("intake: cannot read %s in %s: %s", message_ts, channel, exc.error)
        return None
    if message is None or message.get("subtype") in NOTICES:
        return None
    author = str(message.get("user") or "")
    if bot_user and author == bot_user:
        return None
    thread_ts = str(message.get("thread_ts") or message_ts)
    return Looked(name, thread_ts, str(message.get("text") or ""), author)


@dataclass(frozen=True)
class Claim:
    ours: bool  # this workflow holds the thread, not filed yet (claimed now, or by an earlier run of this step)
    request_id: int | None = None  # it was filed as this request


@step("workflows.tickets.intake._claim", retries_allowed=True, max_attempts=5, interval_seconds=0.5)
def _claim(channel: str, thread_ts: str, reactor: str) -> Claim:
    return claim_thread(runtime.current().db, channel, thread_ts, reactor)


def claim_thread(db: Database, channel: str, thread_ts: str, reactor: str) -> Claim:
    """Claim the thread: insert its unique (channel, thread) row. Of two claims at the same moment one wins: on
    PostgreSQL the other's insert fails on the unique index, on SQLite (transactions begin IMMEDIATE) the other finds
    the row. A row already there is ours when it is our reactor's and not filed yet: an earlier run of this step that
    stopped before DBOS recorded it (the same person's reactions on one thread are one `intake_thread` workflow)."""
    try:
        with db.session() as session:
            row = _thread_row(session, channel, thread_ts)
            if row is not None:
                return Claim(row.reacted_by == reactor and row.request_id is None, row.request_id)
            session.add(IntakeThread(channel_id=channel, thread_ts=thread_ts, reacted_by=reactor))
    except IntegrityError:
        return Claim(False)
    return Claim(True)


@dataclass(frozen=True)
class Waiting:
    reacted_by: str | None  # None: no reaction claimed this thread
    request_id: int | None


@step("workflows.tickets.intake._waiting", retries_allowed=True, max_attempts=5, interval_seconds=0.5)
def _waiting(channel: str, thread_ts: str) -> Waiting:
    with runtime.current().db.session() as session:
        row = _thread_row(session, channel, thread_ts)
        return Waiting(row.reacted_by, row.request_id) if row is not None else Waiting(None, None)


@step("workflows.tickets.intake._triage", retries_allowed=True, max_attempts=5, interval_seconds=0.5)
def _triage(form: FilingForm) -> TeamChoice:
    rt = runtime.current()
    return triage_form(rt.db, rt.policy, form)


@dataclass(frozen=True)
class Filed:
    request_id: int
    jobs: list[Job]  # what to start: `file_issue` for a request stored now


class _Collecting:
    """A dispatcher that keeps the jobs `open_filing` hands over, for the workflow body to start (DBOS starts child
    workflows from a body only). Its promise row stays until the queue knows the job, as for any hand-over."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []

    def enqueue(self, workflow: str, workflow_id: str, *args: Any) -> None:
        self.jobs.append((workflow, workflow_id, list(args)))


@step("workflows.tickets.intake._file", retries_allowed=True, max_attempts=5, interval_seconds=1.0)
def _file(
    channel: str, thread_ts: str, form: FilingForm, choice: TeamChoice, picker: str | None, asked: TeamChoice | None
) -> Filed:
    """Store the escalation once for the claimed thread and link it to the claim. A run stopped between the two finds
    the request it stored (the same requester's escalation of this thread since the claim) instead of another."""
    rt = runtime.current()
    with rt.db.session() as session:
        row = _thread_row(session, channel, thread_ts)
        assert row is not None, "the thread is claimed before it is filed"
        if row.request_id is not None:
            return Filed(row.request_id, [])
        earlier = _stored_since(session, row)
        if earlier is not None:
            row.request_id = earlier
            session.add(row)
            return Filed(earlier, [("file_issue", f"execute-{earlier}-1", [earlier, 1])])
    errors = check_form(rt.policy, form)
    assert not errors, f"an intake form is valid by construction: {errors}"
    collecting = _Collecting()
    req = open_filing(rt.db, collecting, rt.policy, form, choice, asked=asked)
    assert req.id is not None
    with rt.db.session() as session:
        row = _thread_row(session, channel, thread_ts)
        assert row is not None
        row.request_id = req.id
        session.add(row)
        if picker is not None:
            audit.append(
                session,
                actor=queries.email_of(session, picker) or picker,
                action="intake.team_picked",
                subject=req.requester_email,
                request_id=req.id,
                detail={"team": choice.team, "channel": channel, "thread_ts": thread_ts},
            )
    return Filed(req.id, collecting.jobs)


@step("workflows.tickets.intake._react", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _react(channel: str, message_ts: str) -> None:
    try:
        runtime.current().slack.react(channel, message_ts, FILED_REACTION)
    except SlackCallError as exc:
        if exc.passing:
            raise  # the step tries again
        if exc.error not in ("already_reacted", "message_not_found"):
            log.info("intake: cannot react on %s in %s: %s", message_ts, channel, exc.error)


@step("workflows.tickets.intake._ask", retries_allowed=True, max_attempts=6, interval_seconds=2.0, backoff_rate=2.0)
def _ask(channel: str, thread_ts: str, message_ts: str, reactor: str, looked: Looked, choice: TeamChoice) -> None:
    """Ask in the thread which of the two likeliest teams takes it (the post ledger posts it once)."""
    rt = runtime.current()
    assert choice.runner_up is not None  # should_ask
    offered = [_offer(rt.policy, key) for key in (choice.team, choice.runner_up)]
    guess = intake_views.Guess(choice.team, choice.runner_up, choice.confidence, choice.matched)
    text, blocks = intake_views.team_question(
        reactor_slack_id=reactor,
        author_slack_id=looked.author or None,
        summary=prefill_from_text(looked.text).summary or "(no text)",
        offered=offered,
        guess=guess,
        thread_ts=thread_ts,
        message_ts=message_ts,
    )
    try:
        rt.slack.post(channel, text, blocks, thread_ts=thread_ts)
    except SlackCallError as exc:
        if exc.passing:
            raise  # the step tries again
        log.warning("intake: cannot ask in %s: %s", channel, exc.error)


@step("workflows.tickets.intake._settle", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _settle(channel: str, question_ts: str, how: str, request_id: int | None, picker: str, team: str) -> None:
    """The question, answered: who picked which team and the request (or why nothing more can be filed from it)."""
    rt = runtime.current()
    if how == "picked" and request_id is not None:
        text, blocks = intake_views.team_picked(
            picker_slack_id=picker, team_name=_offer(rt.policy, team).name, ref=load(request_id).ref
        )
    elif how == "filed" and request_id is not None:
        text, blocks = intake_views.already_filed(load(request_id).ref)
    else:
        text, blocks = intake_views.cannot_file("the message is gone, or its channel no longer takes intake.")
    try:
        rt.slack.update(channel, question_ts, text, blocks)
    except SlackCallError as exc:
        if exc.passing:
            raise  # the step tries again
        log.info("intake: cannot update the question in %s: %s", channel, exc.error)


# --- the claim ------------------------------------------------------------------------------------------------------
def _thread_row(session: Any, channel: str, thread_ts: str) -> IntakeThread | None:
    query = select(IntakeThread).where(IntakeThread.channel_id == channel, IntakeThread.thread_ts == thread_ts)
    row: IntakeThread | None = session.exec(query).first()
    return row


def _stored_since(session: Any, row: IntakeThread) -> int | None:
    """The escalation of this thread its claimant filed since the claim (an earlier run of `_file` stored it)."""
    since = row.created_at - timedelta(minutes=1)
    candidates = session.exec(
        select(Request)
        .where(
            Request.kind == "escalation",
            Request.requester_slack_id == row.reacted_by,
            col(Request.created_at) >= since,
        )
        .order_by(col(Request.id))
    ).all()
    for req in candidates:
        origin = ticket_details(req).origin
        if origin.channel == row.channel_id and origin.thread_ts == row.thread_ts:
            return int(req.id)
    return None


def _offer(policy: Policy, key: str) -> intake_views.TeamOffer:
    team = policy.team(key)
    return intake_views.TeamOffer(key, team.name, team_blurb(team))
