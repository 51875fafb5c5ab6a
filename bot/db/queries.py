"""Read queries shared by commands, App Home and workflows."""

from __future__ import annotations

import re

from sqlmodel import Session, col, select

from bot import permissions
from bot.db.details import RequestDetails, details_of
from bot.db.models import ApprovalStep, Grant, Person, Request, RequestStatus, RoleMember, Run
from bot.db.types import utcnow
from bot.policy import Policy

OPEN_STATUSES = (
    RequestStatus.PENDING,
    RequestStatus.APPROVED,
    RequestStatus.RUNNING,
    RequestStatus.PARTLY_FAILED,
    RequestStatus.FAILED,
    RequestStatus.FILED,
    RequestStatus.WAITING_FOR_REQUESTER,
)
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
    """Pending requests whose current step the person may decide (never their own)."""
    actor = permissions.Actor(slack_id=slack_id, email=email)
    query = (
        select(Request, ApprovalStep)
        .join(ApprovalStep, col(ApprovalStep.request_id) == col(Request.id))
        .where(Request.status == RequestStatus.PENDING)
        .where(ApprovalStep.status == "pending")
        .order_by(col(Request.id))
    )
    candidates = [
        (req, step)
        for req, step in session.exec(query)
        if actor.slack_id in step.approver_slack_ids or (actor.email and actor.email in step.approver_emails)
    ]
    return [
        (req, step)
        for req, step in candidates
        if permissions.waiting_on(actor, permissions.request_facts(req, _steps(session, req)))
    ]


def email_of(session: Session, slack_id: str) -> str | None:
    person = session.get(Person, slack_id)
    return person.email if person else None


def roles_of(session: Session, email: str) -> set[str]:
    return set(session.exec(select(RoleMember.role).where(RoleMember.email == email)))


def facts_of(session: Session, req: Request, policy: Policy) -> permissions.RequestFacts:
    """The request as `bot.permissions` reads it (with its steps and, for team requests, the team's DRIs)."""
    team = details_of(req, RequestDetails).team
    dris = policy.teams[team].dris if team in policy.teams else []
    return permissions.request_facts(req, _steps(session, req), dris)


def _steps(session: Session, req: Request) -> list[ApprovalStep]:
    return list(session.exec(select(ApprovalStep).where(ApprovalStep.request_id == req.id)))


def offboarding_state_of(session: Session, email: str | None) -> str | None:
    """ "done" / "pending" when an offboarding request names this person (SPEC §6.2), else None."""
    if not email:
        return None
    email = email.lower()
    query = (
        select(Request)
        .where(Request.kind == "offboarding")
        .where(col(Request.status).in_(permissions.OFFBOARDING_PENDING + permissions.OFFBOARDING_DONE))
    )
    named = (
        req.status
        for req in session.exec(query)
        if email in {e.lower() for e in details_of(req, RequestDetails).subjects}
    )
    return permissions.offboarding_state(named)


def actor_of(session: Session, slack_id: str, policy: Policy) -> permissions.Actor:
    """Who is acting, as far as the caches know: email, roles, and whether an offboarding names them. A role backed
    by an Okta group that a cold or stale cache does not list is unconfirmed, not absent (SPEC §6.1)."""
    email = email_of(session, slack_id)
    held: set[str] = set()
    unconfirmed: set[str] = set()
    cached = roles_of(session, email) if email else set()
    fresh = _role_cache_fresh(session)
    for role in policy.roles:
        if role in cached or (email and email in {m.lower() for m in policy.role_members(role)}):
            held.add(role)
        elif (policy.role_okta_group(role) or not email) and not fresh:
            # a fresh cache has every holder's Slack id too; a cold one confirms no absence
            unconfirmed.add(role)
    return permissions.Actor(
        slack_id=slack_id,
        email=email,
        roles=frozenset(held),
        unconfirmed=frozenset(unconfirmed),
        offboarding=offboarding_state_of(session, email),
    )


def _role_cache_fresh(session: Session) -> bool:
    """All roles are refreshed together (workflows/engine/people.py `refresh_roles`)."""
    newest = session.exec(select(RoleMember.refreshed_at).order_by(col(RoleMember.refreshed_at).desc())).first()
    return newest is not None and utcnow() - newest < permissions.ROLE_CACHE_TRUSTED_FOR
