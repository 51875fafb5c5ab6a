"""The request being filed, as stored: reading it and its team, thread and tracked issue, adding to its
details, and marking it filed (whether as a new issue or added to an existing one)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlmodel import Session, select

from bot import audit
from bot.db.details import details_of, store_details
from bot.db.models import Request, RequestStatus, TrackedIssue
from bot.policy import Team
from bot.providers.gitlab import FiledIssue
from workflows.engine import runtime
from workflows.tickets.details import IssueRef, TicketDetails


def load(request_id: int) -> Request:
    with runtime.current().db.session() as session:
        req = session.get(Request, request_id)
    if req is None:
        raise LookupError(f"REQ-{request_id} vanished")
    return req


def ticket_details(req: Request) -> TicketDetails:
    return details_of(req, TicketDetails)


def change_details(request_id: int, change: Callable[[TicketDetails], None]) -> Request:
    """Read the stored details, `change` them and write them back, in one transaction."""
    with runtime.current().db.session() as session:
        req = session.get(Request, request_id)
        assert req is not None
        changed = ticket_details(req)
        change(changed)
        store_details(req, changed)
        session.add(req)
    return req


def team_of(req: Request) -> Team:
    return runtime.current().policy.team(ticket_details(req).team)


def tracked_for(request_id: int) -> TrackedIssue | None:
    with runtime.current().db.session() as session:
        return session.exec(select(TrackedIssue).where(TrackedIssue.request_id == request_id)).first()


def thread_of(req: Request) -> tuple[str, str] | None:
    """The request's Slack thread (channel, ts), if it has one."""
    thread = ticket_details(req).thread
    return (thread.channel, thread.ts) if thread else None


def issue_info(issue: FiledIssue) -> IssueRef:
    """What the request keeps of an issue (`issue`, and `duplicate` with the other request's id)."""
    return IssueRef(
        project=issue.project,
        iid=issue.iid,
        web_url=issue.web_url,
        title=issue.title,
        ref=f"{issue.project}#{issue.iid}",
    )


def mark_filed(
    session: Session,
    req: Request,
    issue: IssueRef,
    team: Team,
    how: str,
    *,
    action: str,
    detail: dict[str, Any],
    dris_missing: Sequence[str] = (),
) -> None:
    """The request is in `issue`: filed, its plan the issue (`how` it got there), audited as `action`; the team's
    DRIs GitLab did not know (`dris_missing`) are kept beside it."""
    req.status, req.error = RequestStatus.FILED, None
    req.version, req.updated_at = req.version + 1, runtime.current().clock.now()
    filed = ticket_details(req)
    filed.issue, filed.dris_missing = issue, list(dris_missing)
    store_details(req, filed)
    req.plan = [f"GitLab: {how} {issue.ref} ({team.name})", issue.web_url]
    session.add(req)
    audit.append(
        session, actor="engops-bot", action=action, subject=req.requester_email, request_id=req.id, detail=detail
    )
