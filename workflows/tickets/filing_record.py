"""The request being filed, as stored: reading it and its team, thread and tracked issue, adding to its
details, and marking it filed (whether as a new issue or added to an existing one)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from bot import audit
from bot.db.models import Request, RequestStatus, TrackedIssue
from bot.policy import Team
from bot.providers.gitlab import FiledIssue
from workflows.engine import runtime


def load(request_id: int) -> Request:
    with runtime.current().db.session() as session:
        req = session.get(Request, request_id)
    if req is None:
        raise LookupError(f"REQ-{request_id} vanished")
    return req


def merge_details(request_id: int, **changes: Any) -> Request:
    with runtime.current().db.session() as session:
        req = session.get(Request, request_id)
        assert req is not None
        req.details = {**req.details, **changes}
        session.add(req)
    return req


def team_of(req: Request) -> Team:
    return runtime.current().policy.team(str(req.details["team"]))


def tracked_for(request_id: int) -> TrackedIssue | None:
    with runtime.current().db.session() as session:
        return session.exec(select(TrackedIssue).where(TrackedIssue.request_id == request_id)).first()


def thread_of(req: Request) -> tuple[str, str] | None:
    """The request's Slack thread (channel, ts), if it has one."""
    thread = req.details.get("thread")
    return (str(thread["channel"]), str(thread["ts"])) if thread else None


def issue_info(issue: FiledIssue) -> dict[str, Any]:
    """What the request keeps of an issue (`details["issue"]`, `details["duplicate"]`)."""
    return {
        "project": issue.project,
        "iid": issue.iid,
        "web_url": issue.web_url,
        "title": issue.title,
        "ref": f"{issue.project}#{issue.iid}",
    }


def mark_filed(
    session: Session,
    req: Request,
    issue: dict[str, Any],
    team: Team,
    how: str,
    *,
    action: str,
    detail: dict[str, Any],
    **details: Any,
) -> None:
    """The request is in `issue` (`issue_info`'s keys): filed, its plan the issue (`how` it got there), audited
    as `action`. `details` are kept beside the issue."""
    req.status, req.error = RequestStatus.FILED, None
    req.version, req.updated_at = req.version + 1, runtime.current().clock.now()
    req.details = {**req.details, "issue": issue, **details}
    req.plan = [f"GitLab: {how} {issue['ref']} ({team.name})", str(issue["web_url"])]
    session.add(req)
    audit.append(
        session, actor="engops-bot", action=action, subject=req.requester_email, request_id=req.id, detail=detail
    )
