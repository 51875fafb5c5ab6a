"""Read queries shared by commands, App Home and workflows."""

from __future__ import annotations

import re

from sqlmodel import Session, col, select

from bot.db.models import ApprovalStep, Grant, Person, Request, RoleMember, Run

OPEN_STATUSES = ("pending", "approved", "running", "partly_failed", "failed", "filed", "waiting_for_requester")
_REF = re.compile(r"^\s*(?:REQ-)?(\d{1,12})\s*$", re.IGNORECASE)


def parse_ref(text: str) -> int | None:
    match = _REF.match(text)
    return int(match.group(1)) if match else None


def request_with_steps(session: Session, request_id: int) -> tuple[Request, list[ApprovalStep]] | None:
    req = session.get(Request, request_id)
    if req is None:
        return None
    steps = list(
        session.exec(
            select(ApprovalStep).where(ApprovalStep.request_id == request_id).order_by(col(ApprovalStep.position))
        )
    )
    return req, steps


def run_with_request(session: Session, run_id: int) -> tuple[Run, Request]:
    """A run and the request it carries out (both must exist)."""
    run = session.get(Run, run_id)
    assert run is not None
    req = session.get(Request, run.request_id)
    assert req is not None
    return run, req


def open_requests_of(session: Session, slack_id: str, limit: int = 20) -> list[Request]:
    query = (
        select(Request)
        .where(Request.requester_slack_id == slack_id)
        .where(col(Request.status).in_(OPEN_STATUSES))
        .order_by(col(Request.id).desc())
        .limit(limit)
    )
    return list(session.exec(query))


def recent_requests_of(session: Session, slack_id: str, limit: int = 10) -> list[Request]:
    query = select(Request).where(Request.requester_slack_id == slack_id).order_by(col(Request.id).desc()).limit(limit)
    return list(session.exec(query))


def active_grants_of(session: Session, email: str) -> list[Grant]:
    query = select(Grant).where(Grant.user_email == email).where(Grant.status == "active").order_by(col(Grant.id))
    return list(session.exec(query))


def active_grants_held_by(session: Session, slack_id: str, email: str | None) -> list[Grant]:
    """Active grants whose holder is this Slack user or has this email."""
    query = (
        select(Grant)
        .where(Grant.status == "active")
        .where((col(Grant.user_slack_id) == slack_id) | (col(Grant.user_email) == email))
    )
    return list(session.exec(query))


def waiting_on(session: Session, slack_id: str, email: str | None) -> list[tuple[Request, ApprovalStep]]:
    """Pending requests whose current step the person may approve (never their own)."""
    query = (
        select(Request, ApprovalStep)
        .join(ApprovalStep, col(ApprovalStep.request_id) == col(Request.id))
        .where(Request.status == "pending")
        .where(ApprovalStep.status == "pending")
        .order_by(col(Request.id))
    )
    found = []
    for req, step in session.exec(query):
        if req.requester_slack_id == slack_id:
            continue
        if slack_id in step.approver_slack_ids or (email and email in step.approver_emails):
            found.append((req, step))
    return found


def email_of(session: Session, slack_id: str) -> str | None:
    person = session.get(Person, slack_id)
    return person.email if person else None


def roles_of(session: Session, email: str) -> set[str]:
    return set(session.exec(select(RoleMember.role).where(RoleMember.email == email)))


def involved(session: Session, req: Request, slack_id: str) -> bool:
    if req.requester_slack_id == slack_id:
        return True
    steps = session.exec(select(ApprovalStep).where(ApprovalStep.request_id == req.id))
    if any(slack_id in s.approver_slack_ids for s in steps):
        return True
    email = email_of(session, slack_id)
    if email is None:
        return False
    if email in (req.subject_email, req.requester_email):
        return True
    return bool(roles_of(session, email) & {"it-admins", "helpdesk"})
