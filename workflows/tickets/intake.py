"""Intake by emoji (SPEC §6.4, GitLab's #it_help practice): in an `intake.channels` channel, a help-desk member
reacting with `intake.reaction` files the message's thread as an escalation — the same triage, transcript and
paging as the "Escalate to EngOps" shortcut, through the same `filing_form.open_filing` and `file_issue`.

1. The listener (commands/intake.py, database only) drops what cannot count (another emoji, not a message, the bot's
   own message, someone not on the help desk: `reaction_counts`, `permissions.intake`) and hands the rest to
   `intake_reaction`, one workflow per delivered event (Slack's retries of an event are the same workflow).
2. `intake_reaction` reads the channel's name and the message (Slack calls: not on the ack path), drops reactions
   outside the intake channels, and hands the thread to `intake_thread` (one attempt per reaction).
3. `intake_thread` claims the thread (`intake_thread` table, unique channel and thread, so a thread is filed once
   however many people react, on whichever of its messages, even when DBOS has long forgotten the workflow; the row
   names the workflow holding it, `claimed_by`) and triages it. The requester is the help-desk member who
   reacted; the message's first line is the summary and its text the details, as the shortcut pre-fills them.
   - Triage is sure: the escalation is stored and handed to `file_issue` (which reads the thread's transcript,
     posts the issue link in the thread and pages the DRIs), and the bot reacts :white_check_mark: on the message
     (`FILED_REACTION`: "taken, REQ-n is on its way").
   - The team classifier is unsure: the bot asks in the thread which of the two likeliest teams should take it
     (one button each, `bot/slack/intake_views.py`); a help-desk member's click runs `intake_choice`, which files
     it there (`TeamChoice(team, "asked")`): each click is a workflow of its own, and the one that takes the claim
     (compare-and-set on `claimed_by`, from "waiting for a pick" to itself) files.
   - An attempt that fails (Slack down longer than the steps' retries, or refusing to post the question; storing the
     escalation failing) gives the claim up and, if Slack answers, says so in the thread: a later reaction (a
     reaction's attempt deletes its row) or a later click (a pick puts the thread back to waiting) tries again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from dbos import DBOS
from dbos._error import DBOSMaxStepRetriesExceeded  # what a step raises once its retries are used up
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot import audit, permissions
from bot.db import queries
from bot.db.engine import Database
from bot.db.models import Request
from bot.db.models_triage import IntakeThread
from bot.policy import Intake, Policy
from bot.providers.errors import ProviderError
from bot.slack import intake_views
from bot.slack.messenger import SlackCallError
from workflows.engine import people, runtime
from workflows.engine.durable import Dispatcher, durable, enqueue, step
from workflows.engine.handover import deliver, promise
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
    if not channel or channel.startswith("D"):
        return None  # a DM is never an intake channel
    if not ts or (bot_user and (event.get("item_user") == bot_user or user == bot_user)):
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


def take_pick(
    db: Database,
    dispatcher: Dispatcher,
    channel: str,
    question_ts: str,
    pick: intake_views.Pick,
    picker: str,
    click: str,
) -> None:
    """Hand a help-desk member's pick of the team to `intake_choice`: one workflow per click (`click`: the action's
    `action_ts`), so a click after a failed one tries again. The first click takes the waiting thread's claim here,
    in the order Slack sent the clicks, and writes its job down with it (a click a moment later finds it taken);
    any other click's workflow only answers the question if the thread is filed or given up."""
    guess = pick.guess
    workflow_id = f"intake-choice-{channel}-{pick.thread_ts}-{click}"
    args = (
        channel,
        pick.thread_ts,
        pick.message_ts,
        question_ts,
        pick.team,
        picker,
        [guess.team, guess.runner_up, guess.confidence, list(guess.matched)],
    )
    with db.session() as session:
        job = promise(session, "intake_choice", workflow_id, *args) if _take(session, *args[:2], workflow_id) else None
    if job is not None:
        deliver(dispatcher, job)
    else:
        dispatcher.enqueue("intake_choice", workflow_id, *args)


def thread_workflow_id(reaction_workflow_id: str) -> str:
    """The attempt to file the thread a reaction makes (one per delivered event: a failed one is not the last)."""
    return f"{reaction_workflow_id}-thread"


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
        thread_workflow_id(str(DBOS.workflow_id)),
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
    try:
        if not _claim(channel, thread_ts, reactor).ours:
            return  # another reaction holds it (or its question waits for a pick), or it was filed long ago
    except DBOSMaxStepRetriesExceeded:
        log.warning("intake: could not claim the thread %s in %s; nothing filed", thread_ts, channel)
        return
    try:
        form = intake_form(channel, message_ts, reactor, looked)
        choice = _triage(form)
        if should_ask(choice):  # the classifier is unsure: as the modal does, ask rather than guess
            if not _ask(channel, thread_ts, message_ts, reactor, looked, choice):
                _give_up(channel, thread_ts, "Slack refused the question which team takes it")
            return
        _file_and_confirm(channel, thread_ts, message_ts, form, choice)
    except DBOSMaxStepRetriesExceeded:
        _give_up(channel, thread_ts, "Slack or the database did not answer")


def _give_up(channel: str, thread_ts: str, why: str, *, pick: bool = False) -> None:
    """From a workflow body: give the thread's claim up (a later reaction or click tries again) and, if Slack
    answers, say so in the thread."""
    log.warning("intake: could not file the thread %s in %s (%s); the claim is given up", thread_ts, channel, why)
    try:
        if _release(channel, thread_ts, pick) is not None:
            return  # the escalation was stored after all: its hand-over files it
        _tell_failed(channel, thread_ts, pick)
    except DBOSMaxStepRetriesExceeded:
        log.warning("intake: could not give up the claim on %s in %s", thread_ts, channel)


@durable("intake_choice")
def intake_choice(
    channel: str, thread_ts: str, message_ts: str, question_ts: str, team: str, picker: str, guess: list[Any]
) -> None:
    """`guess`: what the classifier thought when it asked ([team, runner-up, confidence, words]). One workflow per
    click: the one that takes the waiting thread's claim files it; a failed one puts the thread back to waiting."""
    try:
        taken = _take_pick(channel, thread_ts)
    except DBOSMaxStepRetriesExceeded:
        log.warning("intake: could not take the pick for %s in %s; a later click tries again", thread_ts, channel)
        return
    if taken.request_id is not None:
        _answer_question(channel, question_ts, "filed", taken.request_id, picker, team)
        return
    if taken.reacted_by is None:  # no claim: the attempt that asked gave it up
        _answer_question(channel, question_ts, "released", None, picker, team)
        return
    if not taken.ours:
        return  # another click is filing it (it answers the question), or a reaction is trying again
    asked = asked_choice(runtime.current().policy, guess)
    try:
        looked = None if check_pick(asked, team) else _look(channel, message_ts, "")
        if looked is None:
            _release(channel, thread_ts, True)
            _answer_question(channel, question_ts, "gone", None, picker, team)
            return
        form = intake_form(channel, message_ts, taken.reacted_by, looked)
        request_id = _file_and_confirm(channel, thread_ts, message_ts, form, TeamChoice(team, "asked"), picker, asked)
    except DBOSMaxStepRetriesExceeded:
        _give_up(channel, thread_ts, "Slack or the database did not answer the pick", pick=True)
        return
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
    return claim_thread(runtime.current().db, channel, thread_ts, reactor, _this_workflow())


def claim_thread(db: Database, channel: str, thread_ts: str, reactor: str, claimant: str) -> Claim:
    """Claim the thread for the workflow `claimant`: insert its unique (channel, thread) row. Of two claims at the
    same moment one wins: on PostgreSQL the other's insert fails on the unique index, on SQLite (transactions begin
    IMMEDIATE) the other finds the row. A row already there is ours only when `claimant` holds it and it is not filed
    yet: an earlier run of this step that stopped before DBOS recorded it."""
    try:
        with db.session() as session:
            row = _thread_row(session, channel, thread_ts)
            if row is not None:
                return Claim(row.claimed_by == claimant and row.request_id is None, row.request_id)
            session.add(IntakeThread(channel_id=channel, thread_ts=thread_ts, reacted_by=reactor, claimed_by=claimant))
    except IntegrityError:
        return Claim(False)
    return Claim(True)


@dataclass(frozen=True)
class Taken:
    reacted_by: str | None  # None: nothing claims this thread (the attempt that asked gave it up)
    request_id: int | None
    ours: bool = False  # this pick holds the claim (it was waiting for a pick)


@step("workflows.tickets.intake._take_pick", retries_allowed=True, max_attempts=5, interval_seconds=0.5)
def _take_pick(channel: str, thread_ts: str) -> Taken:
    return take_waiting(runtime.current().db, channel, thread_ts, _this_workflow())


def take_waiting(db: Database, channel: str, thread_ts: str, claimant: str) -> Taken:
    """Compare-and-set: a thread whose question waits for a pick (claimed by nobody, not filed) is now `claimant`'s.
    Of picks at the same moment one wins (PostgreSQL re-reads the row an update waited for; SQLite runs them one
    after the other); a run of this step again finds the claim its own."""
    with db.session() as session:
        _take(session, channel, thread_ts, claimant)
        row = _thread_row(session, channel, thread_ts)
        if row is None:
            return Taken(None, None)
        return Taken(row.reacted_by, row.request_id, row.claimed_by == claimant and row.request_id is None)


@step("workflows.tickets.intake._release", retries_allowed=True, max_attempts=5, interval_seconds=1.0)
def _release(channel: str, thread_ts: str, pick: bool) -> int | None:
    return release_thread(runtime.current().db, channel, thread_ts, _this_workflow(), pick=pick)


def release_thread(db: Database, channel: str, thread_ts: str, claimant: str, *, pick: bool) -> int | None:
    """Give up `claimant`'s claim on a thread it did not file: a reaction's attempt deletes the row (a later reaction
    claims it anew), a pick's puts it back to waiting (the question's buttons stay). An escalation the claimant
    stored after all (its `_file` stopped before linking it) is linked instead: its id (its hand-over files it)."""
    with db.session() as session:
        row = _thread_row(session, channel, thread_ts)
        if row is None or row.claimed_by != claimant or row.request_id is not None:
            return None  # not ours (any more)
        earlier = _stored_since(session, row)
        if earlier is not None:
            row.request_id = earlier
            session.add(row)
            return earlier
        mine = (
            col(IntakeThread.id) == row.id,
            col(IntakeThread.claimed_by) == claimant,
            col(IntakeThread.request_id).is_(None),
        )
        if pick:
            session.execute(update(IntakeThread).where(*mine).values(claimed_by=None))
        else:
            session.execute(delete(IntakeThread).where(*mine))
    return None


def _take(session: Any, channel: str, thread_ts: str, claimant: str) -> bool:
    """The compare-and-set of a pick, in the caller's transaction: True when it took the waiting thread."""
    taken = session.execute(
        update(IntakeThread)
        .where(
            col(IntakeThread.channel_id) == channel,
            col(IntakeThread.thread_ts) == thread_ts,
            col(IntakeThread.request_id).is_(None),
            col(IntakeThread.claimed_by).is_(None),
        )
        .values(claimed_by=claimant)
    )
    return bool(taken.rowcount == 1)


def _this_workflow() -> str:
    workflow_id = DBOS.workflow_id
    assert workflow_id is not None, "called from a step"
    return workflow_id


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
        assert row.claimed_by == _this_workflow(), "only the claim's holder files the thread"
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
        row.picked_by = picker
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
def _ask(channel: str, thread_ts: str, message_ts: str, reactor: str, looked: Looked, choice: TeamChoice) -> bool:
    """Ask in the thread which of the two likeliest teams takes it (the post ledger posts it once), and leave the
    thread waiting for a pick (claimed by nobody). False: Slack refused the question (the claim is still ours)."""
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
        return False
    with rt.db.session() as session:
        session.execute(
            update(IntakeThread)
            .where(
                col(IntakeThread.channel_id) == channel,
                col(IntakeThread.thread_ts) == thread_ts,
                col(IntakeThread.claimed_by) == _this_workflow(),
                col(IntakeThread.request_id).is_(None),
            )
            .values(claimed_by=None)
        )
    return True


@step("workflows.tickets.intake._tell_failed", retries_allowed=True, max_attempts=2, interval_seconds=1.0)
def _tell_failed(channel: str, thread_ts: str, pick: bool) -> None:
    """Best effort: tell the thread that this attempt filed nothing and how to try again."""
    rt = runtime.current()
    intake = rt.policy.intake
    text, blocks = intake_views.not_filed(intake.reaction if intake else None, pick=pick)
    try:
        rt.slack.post(channel, text, blocks, thread_ts=thread_ts)
    except SlackCallError as exc:
        if exc.passing:
            raise  # the step tries again
        log.info("intake: cannot tell %s that nothing was filed: %s", channel, exc.error)


@step("workflows.tickets.intake._settle", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _settle(channel: str, question_ts: str, how: str, request_id: int | None, picker: str, team: str) -> None:
    """The question, answered: who picked which team and the request (or why nothing more can be filed from it)."""
    rt = runtime.current()
    if how == "picked" and request_id is not None:
        text, blocks = intake_views.team_picked(
            picker_slack_id=picker, team_name=_offer(rt.policy, team).name, ref=load(request_id).ref
        )
    elif how == "filed" and request_id is not None:
        req, picked_by = load(request_id), _picked_by(channel, request_id)
        if picked_by is not None:  # filed by a pick: the same answer its own update gives
            team = ticket_details(req).team
            team_name = _offer(rt.policy, team).name if team in rt.policy.teams else team
            text, blocks = intake_views.team_picked(picker_slack_id=picked_by, team_name=team_name, ref=req.ref)
        else:
            text, blocks = intake_views.already_filed(req.ref)
    elif how == "released":
        text, blocks = intake_views.cannot_file("this question was given up. React on the message again to file it.")
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


def _picked_by(channel: str, request_id: int) -> str | None:
    with runtime.current().db.session() as session:
        row = session.exec(
            select(IntakeThread).where(IntakeThread.channel_id == channel, IntakeThread.request_id == request_id)
        ).first()
        return row.picked_by if row is not None else None


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
