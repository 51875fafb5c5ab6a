"""The duplicate check: before filing, an open issue the same requester filed through the bot in the same
tracker with a near-identical title is offered instead (DM, buttons). The requester adds the request to it
(`add_to_issue`) or files a new issue anyway (`file_issue` again, without the check)."""

from __future__ import annotations

import difflib
import logging
import re
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from bot import audit
from bot.db.details import store_details
from bot.db.engine import Database
from bot.db.models import Request, RequestStatus, TrackedIssue
from bot.providers.errors import NotFoundError, ProviderError, TransientError
from bot.slack import triage_views
from bot.slack.messenger import SlackCallError
from workflows.engine import runtime
from workflows.engine.approvals import Outcome
from workflows.engine.durable import Dispatcher, step
from workflows.engine.handover import deliver, promise
from workflows.tickets.details import Duplicate, Offer, TicketDetails
from workflows.tickets.filing_form import KINDS
from workflows.tickets.filing_record import change_details, issue_info, load, team_of, ticket_details, tracked_for

log = logging.getLogger(__name__)

SIMILAR_TITLE = 0.88  # difflib ratio of normalised summaries that counts as "near-identical"


def _normalised(title: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", title.lower()))


def similar(a: str, b: str) -> bool:
    """Near-identical titles: the same words but for small differences (typos, punctuation, case)."""
    left, right = _normalised(a), _normalised(b)
    return bool(left) and difflib.SequenceMatcher(None, left, right).ratio() >= SIMILAR_TITLE


@step("workflows.filing._find_duplicate", retries_allowed=True, max_attempts=4, interval_seconds=2.0, backoff_rate=2.0)
def find_duplicate(request_id: int) -> dict[str, Any] | None:
    """An open issue this requester filed through the bot in the same tracker, with a near-identical title."""
    req = load(request_id)
    details = ticket_details(req)
    if details.skip_duplicate_check or tracked_for(request_id) is not None:
        return None
    rt = runtime.current()
    team = team_of(req)
    with rt.db.session() as session:
        rows = session.exec(
            select(TrackedIssue, Request)
            .join(Request, col(Request.id) == col(TrackedIssue.request_id))
            .where(TrackedIssue.team == team.key, TrackedIssue.requester_email == req.requester_email)
            .where(col(TrackedIssue.request_id) != request_id)
            .where(col(Request.status) == RequestStatus.FILED)
            .order_by(col(TrackedIssue.id).desc())
        ).all()
        candidates = [
            (t.project, t.iid, other.id) for t, other in rows if other.id and similar(other.summary, req.summary)
        ]
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
        if issue.state == "opened" and (issue.confidential or not details.confidential):
            # a step's output: stored as plain JSON, as release 2 stored it
            return Duplicate(**issue_info(issue).model_dump(), request_id=other_id).model_dump(mode="json")
    return None


@step("workflows.filing._offer_duplicate", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def offer_duplicate(request_id: int, duplicate: dict[str, Any]) -> None:
    rt = runtime.current()
    req = load(request_id)
    found = Duplicate.model_validate(duplicate)
    offer = ticket_details(req).offer
    if offer is None or offer.closed:  # a step that ran before may have posted it already
        text, blocks = triage_views.duplicate_offer(
            ref=req.ref,
            request_id=request_id,
            issue_url=found.web_url,
            issue_ref=found.ref,
            issue_title=found.title,
        )
        posted = rt.slack.dm(req.requester_slack_id, text, blocks)
        offer = Offer(channel=posted.channel, ts=posted.ts)
    with rt.db.session() as session:
        row = session.get(Request, request_id)
        assert row is not None
        row.status, row.version, row.updated_at = RequestStatus.WAITING_FOR_REQUESTER, row.version + 1, rt.clock.now()
        details = ticket_details(row)
        details.chosen, details.duplicate, details.offer = None, found, offer
        store_details(row, details)
        session.add(row)
        audit.append(
            session,
            actor="engops-bot",
            action="request.duplicate_offered",
            request_id=request_id,
            subject=req.requester_email,
            detail={"issue": found.ref},
        )


def answer_duplicate_offer(
    db: Database, dispatcher: Dispatcher, request_id: int, clicker: str, *, add: bool, now: datetime
) -> Outcome:
    """The requester's choice on the duplicate offer (handler side): add to the existing issue, or file anyway."""
    with db.session() as session:
        req = session.get(Request, request_id)
        if req is None or req.kind not in KINDS:
            return Outcome(False, f"REQ-{request_id} does not exist.")
        if clicker != req.requester_slack_id:
            return Outcome(False, f"Only the requester can decide what happens to {req.ref}.")
        attempt, version = req.attempt + (0 if add else 1), req.version + 1
        moved = session.execute(
            update(Request)
            .where(col(Request.id) == request_id, col(Request.status) == RequestStatus.WAITING_FOR_REQUESTER)
            .values(status=RequestStatus.RUNNING, attempt=attempt, version=version, updated_at=now)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            return Outcome(False, f"{req.ref} is not waiting for your choice any more; nothing changed.")
        # the row is ours now (the update above holds it until this transaction ends)
        details = ticket_details(req)
        details.skip_duplicate_check, details.chosen = not add, "add" if add else "new"
        store_details(req, details)
        session.add(req)
        audit.append(
            session,
            actor=req.requester_email or clicker,
            action="request.duplicate_choice",
            request_id=request_id,
            detail={"choice": details.chosen},
        )
        if add:
            job = promise(session, "add_to_issue", f"add-{request_id}-v{version}", request_id)
        else:
            job = promise(session, "file_issue", f"execute-{request_id}-{attempt}", request_id, attempt)
    deliver(dispatcher, job)
    if add:
        return Outcome(True, f"Adding {req.ref} to the existing issue.")
    return Outcome(True, f"Filing {req.ref} as a new issue.")


@step("workflows.filing._close_offer", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def close_offer(request_id: int) -> None:
    """Once the requester chose, the duplicate offer loses its buttons and says what they chose."""
    req = load(request_id)
    details = ticket_details(req)
    offer, chosen = details.offer, details.chosen
    if offer is None or chosen is None or offer.closed:
        return
    choice = "you chose to add it to the existing issue." if chosen == "add" else "you chose to file a new issue."
    text, blocks = triage_views.offer_answered(ref=req.ref, choice=choice)
    try:
        runtime.current().slack.update(offer.channel, offer.ts, text, blocks)
    except SlackCallError as exc:  # the offer's buttons are refused once it is closed; the message is cosmetic
        log.info("cannot update the offer of %s: %s", req.ref, exc.error)
    change_details(request_id, _offer_closed)


def _offer_closed(stored: TicketDetails) -> None:
    if stored.offer is not None:
        stored.offer.closed = True
