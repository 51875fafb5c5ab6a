"""Escalations (SPEC §6.5): page the team's DRIs, post a card in the team channel, re-page until
someone clicks **I'm on it**.

Once the escalation's issue is filed (`workflows.tickets.filing`), `start_escalation` DMs each DRI the card
and posts it in the team's channel. The sweep (`escalation.repage`) finds escalations nobody
acknowledged within `escalation.ack_within`: the first time it pages the DRIs again, the second
time it posts in the team channel; then it stops. `acknowledge` (handler side, database only) is a
compare-and-set, so two clicks give one acknowledgement; every copy of the card is then updated.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from typing import Any

from dbos._error import DBOSMaxStepRetriesExceeded  # not re-exported by dbos 3.4 (pinned)
from sqlalchemy import update
from sqlmodel import col, select

from bot import audit, permissions
from bot.db import queries
from bot.db.engine import Database
from bot.db.models import Escalation, Person, Request, RequestStatus, TrackedIssue
from bot.db.models_triage import EscalationCard
from bot.policy import Policy
from bot.slack import triage_views
from bot.slack.escape import mention
from bot.slack.messenger import SlackCallError
from workflows.engine import people, runtime
from workflows.engine.approvals import Outcome
from workflows.engine.durable import Dispatcher, durable, step
from workflows.engine.handover import deliver, promise
from workflows.engine.sweep import Job, due_handler
from workflows.tickets import triage
from workflows.tickets.filing_record import ticket_details

log = logging.getLogger(__name__)

REPAGE_DRIS, PAGE_CHANNEL = 2, 3  # `pages` after the first re-page and after the channel post


# --- state -------------------------------------------------------------------------------------
def _view(escalation_id: int) -> tuple[triage_views.EscalationView, str]:
    """The card's state and the team channel, from the stored rows."""
    rt = runtime.current()
    with rt.db.session() as session:
        esc = session.get(Escalation, escalation_id)
        assert esc is not None
        tracked = session.get(TrackedIssue, esc.tracked_issue_id)
        assert tracked is not None and tracked.request_id is not None
        req = session.get(Request, tracked.request_id)
        assert req is not None
        acker = (
            session.exec(select(Person).where(Person.email == esc.acked_by_email)).first()
            if esc.acked_by_email
            else None
        )
    team = rt.policy.team(esc.team)
    details = ticket_details(req)
    urgency = triage.URGENCIES.get(details.urgency, triage.URGENCIES[triage.DEFAULT_URGENCY])[0]
    view = triage_views.EscalationView(
        escalation_id=escalation_id,
        ref=req.ref,
        team_name=team.name,
        summary=req.summary,
        requester_slack_id=req.requester_slack_id,
        requester_email=req.requester_email,
        urgency=urgency,
        issue_url=tracked.web_url,
        issue_ref=f"{tracked.project}#{tracked.iid}",
        permalink=details.permalink,
        confidential=tracked.confidential,
        pages=esc.pages,
        acked_by_slack_id=acker.slack_id if acker else None,
        acked_by_email=esc.acked_by_email,
        acked_at=esc.acked_at,
        closed=req.status == RequestStatus.CLOSED,
    )
    return view, team.channel


def _post_copy(escalation_id: int, channel: str, audience: str, note: str = "") -> None:
    view, _ = _view(escalation_id)
    text, blocks = triage_views.escalation_card(view, note=note)
    posted = runtime.current().slack.post(channel, text, blocks)
    with runtime.current().db.session() as session:
        session.add(
            EscalationCard(
                escalation_id=escalation_id, channel_id=posted.channel, ts=posted.ts, audience=audience, note=note
            )
        )
        if audience == "channel":
            esc = session.get(Escalation, escalation_id)
            assert esc is not None
            if esc.card_ts is None:
                esc.channel_id, esc.card_ts = posted.channel, posted.ts
                session.add(esc)


def _dri_slack_ids(team_key: str) -> list[tuple[str, str | None]]:
    return [(email, people.slack_id_of(email)) for email in runtime.current().policy.team(team_key).dris]


# --- the modal's permalink ----------------------------------------------------------------------
def show_permalink(
    dispatcher: Dispatcher, view_id: str, view: dict[str, Any], channel: str, ts: str, view_hash: str | None = None
) -> None:
    """After the escalation modal opened (chat.getPermalink may not run before the ack). `view_hash` is the opened
    view's: once the requester submitted or triage asked them to pick a team, the modal is left alone."""
    dispatcher.enqueue("escalation_modal_permalink", f"permalink-{view_id}", view_id, view, channel, ts, view_hash)


@durable("escalation_modal_permalink")
def escalation_modal_permalink(
    view_id: str, view: dict[str, Any], channel: str, ts: str, view_hash: str | None = None
) -> None:
    _fill_permalink(view_id, view, channel, ts, view_hash)


@step("workflows.escalation._fill_permalink", retries_allowed=True, max_attempts=3, interval_seconds=0.5)
def _fill_permalink(view_id: str, view: dict[str, Any], channel: str, ts: str, view_hash: str | None = None) -> None:
    slack = runtime.current().slack
    try:
        permalink: str | None = slack.permalink(channel, ts)
    except SlackCallError:
        permalink = None
    try:
        slack.update_view(view_id, triage_views.with_permalink(view, permalink), view_hash=view_hash)
    except SlackCallError as exc:  # submitted, closed or replaced meanwhile: filing finds the link itself
        log.info("escalation modal %s not updated: %s", view_id, exc.error)


# --- paging ------------------------------------------------------------------------------------
@durable("start_escalation")
def start_escalation(request_id: int) -> None:
    escalation_id = _create(request_id)
    if escalation_id is None:
        return
    for page in (_page_dris, _page_channel):
        try:
            page(escalation_id, 1)
        except DBOSMaxStepRetriesExceeded:  # Slack kept failing: the re-page after `ack_within` tries again
            log.warning("escalation %s: Slack kept failing; the re-page will try again", escalation_id)


@step("workflows.escalation._create")
def _create(request_id: int) -> int | None:
    rt = runtime.current()
    now = rt.clock.now()
    with rt.db.session() as session:
        tracked = session.exec(select(TrackedIssue).where(TrackedIssue.request_id == request_id)).first()
        if tracked is None:
            return None
        existing = session.exec(select(Escalation).where(Escalation.tracked_issue_id == tracked.id)).first()
        if existing is not None:
            return existing.id
        assert tracked.id is not None
        esc = Escalation(
            tracked_issue_id=tracked.id, team=tracked.team, pages=1, next_page_at=now + rt.policy.escalation.ack_within
        )
        session.add(esc)
        session.flush()
        audit.append(
            session,
            actor="engops-bot",
            action="escalation.paged",
            request_id=request_id,
            subject=tracked.team,
            detail={"page": 1, "dris": list(rt.policy.team(tracked.team).dris)},
        )
        return esc.id


def _escalation_and_copies(escalation_id: int, audience: str) -> tuple[Escalation, Counter[str]]:
    """The escalation and how many copies of its card went to `audience` ("dri" or "channel"), by channel."""
    with runtime.current().db.session() as session:
        esc = session.get(Escalation, escalation_id)
        assert esc is not None
        channels = session.exec(
            select(EscalationCard.channel_id)
            .where(EscalationCard.escalation_id == escalation_id)
            .where(EscalationCard.audience == audience)
        ).all()
    return esc, Counter(channels)


@step("workflows.escalation._page_dris", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _page_dris(escalation_id: int, page: int) -> None:
    """DM the card to each DRI who has not got this page yet (counted per DRI: a DRI of a team the escalation
    was moved to gets the card at the next page, however many the first team's DRIs got)."""
    esc, have = _escalation_and_copies(escalation_id, "dri")
    if esc.acked_at is not None:
        return
    note = "" if page == 1 else ":bell: *Reminder:* nobody has picked this up yet."
    for email, slack_id in _dri_slack_ids(esc.team):
        if not slack_id:
            continue
        try:
            channel = runtime.current().slack.dm_channel(slack_id)
            if have[channel] < page:
                _post_copy(escalation_id, channel, "dri", note)
        except SlackCallError as exc:
            if exc.passing:
                raise  # the step retries; copies already made are not made again
            log.warning("cannot page %s: %s", email, exc.error)


@step("workflows.escalation._page_channel", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _page_channel(escalation_id: int, page: int) -> None:
    """The card in the team channel (first page), or a louder post there (last page)."""
    esc, copies = _escalation_and_copies(escalation_id, "channel")
    if esc.acked_at is not None or sum(copies.values()) >= (1 if page == 1 else 2):
        return
    _, channel = _view(escalation_id)
    note = ""
    if page != 1:
        dris = " ".join(mention(sid, email) for email, sid in _dri_slack_ids(esc.team))
        note = f":rotating_light: *Still unacknowledged after {esc.pages - 1} pages.* {dris}: can someone take it?"
    try:
        _post_copy(escalation_id, channel, "channel", note)
    except SlackCallError as exc:
        if exc.passing:
            raise  # the step retries; copies already made are not made again
        log.warning("cannot post escalation %s in %s: %s", escalation_id, channel, exc.error)


@due_handler("escalation.repage")
def repage_due(now: datetime) -> list[Job]:
    rt = runtime.current()
    jobs: list[Job] = []
    with rt.db.session() as session:
        due = list(
            session.exec(
                select(Escalation).where(col(Escalation.acked_at).is_(None)).where(col(Escalation.next_page_at) <= now)
            )
        )
        for esc in due:
            esc.pages += 1
            esc.next_page_at = now + rt.policy.escalation.ack_within if esc.pages < PAGE_CHANNEL else None
            session.add(esc)
            tracked = session.get(TrackedIssue, esc.tracked_issue_id)
            audit.append(
                session,
                actor="engops-bot",
                action="escalation.repaged",
                request_id=tracked.request_id if tracked else None,
                subject=esc.team,
                detail={"page": esc.pages, "to": "dris" if esc.pages == REPAGE_DRIS else "channel"},
            )
            # promised with the mark: a sweep killed before it starts the job leaves it to the next one
            jobs.append(promise(session, "repage_escalation", f"repage-{esc.id}-{esc.pages}", esc.id, esc.pages))
    return jobs


@durable("repage_escalation")
def repage_escalation(escalation_id: int, page: int) -> None:
    if page == REPAGE_DRIS:
        _page_dris(escalation_id, page)
    else:
        _page_channel(escalation_id, page)
    _refresh_cards(escalation_id)


# --- acknowledgement ---------------------------------------------------------------------------
def acknowledge(
    db: Database, dispatcher: Dispatcher, policy: Policy, escalation_id: int, clicker: str, now: datetime
) -> Outcome:
    """**I'm on it**: the team's DRIs and IT admins may; the first click wins."""
    with db.session() as session:
        esc = session.get(Escalation, escalation_id)
        if esc is None:
            return Outcome(False, "This escalation does not exist any more.")
        team = policy.team(esc.team)
        actor = queries.actor_of(session, clicker, policy)
        email = actor.email or ""
        if esc.acked_at is not None:
            when = esc.acked_at.strftime("%H:%M UTC")
            return Outcome(False, f"{esc.acked_by_email} is already on it (since {when}); nothing changed.")
        verdict = permissions.take_escalation(actor, team.name, team.dris)
        if not verdict.ok:
            return Outcome(False, verdict.message)
        moved = session.execute(
            update(Escalation)
            .where(col(Escalation.id) == escalation_id, col(Escalation.acked_at).is_(None))
            .values(acked_at=now, acked_by_email=email, next_page_at=None)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            return Outcome(False, "Someone else took it at the same moment; nothing changed.")
        tracked = session.get(TrackedIssue, esc.tracked_issue_id)
        audit.append(
            session,
            actor=email,
            action="escalation.acknowledged",
            request_id=tracked.request_id if tracked else None,
            subject=esc.team,
        )
        job = promise(session, "escalation_acknowledged", f"escalation-ack-{escalation_id}", escalation_id)
    deliver(dispatcher, job)
    return Outcome(True, "You're on it.")


@durable("escalation_acknowledged")
def escalation_acknowledged(escalation_id: int) -> None:
    _refresh_cards(escalation_id)
    _tell_acknowledged(escalation_id)


@step("workflows.escalation._refresh_cards", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _refresh_cards(escalation_id: int) -> None:
    rt = runtime.current()
    view, _ = _view(escalation_id)
    with rt.db.session() as session:
        copies = list(session.exec(select(EscalationCard).where(EscalationCard.escalation_id == escalation_id)))
    for copy in copies:
        note = "" if view.acked_at is not None or view.closed else copy.note
        text, blocks = triage_views.escalation_card(view, note=note)
        try:
            rt.slack.update(copy.channel_id, copy.ts, text, blocks)
        except SlackCallError as exc:
            if exc.passing:
                raise  # the step retries; copies already made are not made again
            log.warning("cannot update escalation card %s: %s", copy.id, exc.error)


def refresh_cards(escalation_id: int) -> None:
    _refresh_cards(escalation_id)


@step("workflows.escalation._tell_acknowledged", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _tell_acknowledged(escalation_id: int) -> None:
    rt = runtime.current()
    view, _ = _view(escalation_id)
    with rt.db.session() as session:
        esc = session.get(Escalation, escalation_id)
        assert esc is not None
        tracked = session.get(TrackedIssue, esc.tracked_issue_id)
        assert tracked is not None
    who = mention(view.acked_by_slack_id, view.acked_by_email or "A DRI")
    text = f":raising_hand: {who} is on it ({view.ref}, <{view.issue_url}|{view.issue_ref}>)."
    if tracked.channel_id and tracked.thread_ts:
        rt.slack.post(tracked.channel_id, text, thread_ts=tracked.thread_ts)
    if tracked.requester_slack_id and not (tracked.channel_id or "").startswith("D"):
        rt.slack.dm(tracked.requester_slack_id, text)


def close_for_issue(tracked_issue_id: int, now: datetime) -> list[int]:
    """The issue was closed: stop re-paging its escalations; returns their ids (cards to refresh)."""
    with runtime.current().db.session() as session:
        found = list(session.exec(select(Escalation).where(Escalation.tracked_issue_id == tracked_issue_id)))
        for esc in found:
            if esc.next_page_at is not None:
                esc.next_page_at = None
                session.add(esc)
        return [e.id for e in found if e.id is not None]
