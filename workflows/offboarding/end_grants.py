"""`engops_end_grants` (SPEC §6.3): offboarding ends everything the bot gave the person.

- their open requests (submitted / pending) are cancelled ("offboarded"), and their cards re-rendered;
- their key rotations that have not finished stop: no new key is made, Reactivate old key is refused;
- every active bot-made Okta grant is removed in Okta and marked ended.

Database changes come first and each is a compare-and-set, so the step is safe to run twice: a second
run finds nothing open, nothing rotating and nothing active. Cards are re-rendered by `request_changed`
(workflows/engine/approvals.py); the job is promised in the same transaction as the change (the sweep re-sends
it if this process dies) and started by the execute workflow's body through `card_jobs`, since DBOS
starts workflows only from a workflow body, never from a step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from bot import audit
from bot.db.details import RequestDetails, details_of, store_details
from bot.db.models import Grant, Handover, Request, RequestStatus
from bot.db.models_keys import KeyRotation
from workflows.engine import runtime
from workflows.engine.approvals import change_job
from workflows.engine.handover import promise
from workflows.engine.kinds import kind_of
from workflows.engine.sweep import Job

ACTOR = "engops-bot"
# a failed one could be retried
OPEN_REQUEST = (RequestStatus.SUBMITTED, RequestStatus.PENDING, RequestStatus.FAILED, RequestStatus.PARTLY_FAILED)
# Rotations at rest; the others (deactivating, deleting, reactivating) are mid-step in key_rotation.py and
# end on their own: a rollback is refused for an offboarded person (bot/permissions.py).
STOPPABLE_ROTATION = ("preparing", "grace", "deactivated", "failed")


@dataclass(frozen=True)
class Ended:
    requests: list[str]
    rotations: list[str]
    grants: list[str]
    in_flight: list[str]

    def text(self) -> str:
        parts = []
        if self.grants:
            parts.append(f"removed Okta grant(s) {', '.join(self.grants)}")
        if self.requests:
            parts.append(f"cancelled open request(s) {', '.join(self.requests)}")
        if self.rotations:
            parts.append(f"stopped key rotation(s) {', '.join(self.rotations)}")
        if self.in_flight:
            parts.append(f"left to finish on their own: {', '.join(self.in_flight)}")
        return "; ".join(parts)


def _reason(request_id: int) -> str:
    return f"offboarding REQ-{request_id}"


def _end_request(session: Session, req: Request, status: RequestStatus, request_id: int, now: datetime) -> Job | None:
    """Compare-and-set on the version; returns the card refresh job (None: it changed meanwhile)."""
    assert req.id is not None
    version = req.version + 1
    cancelled = status == RequestStatus.CANCELLED
    moved = session.execute(
        update(Request)
        .where(col(Request.id) == req.id, col(Request.version) == req.version)
        .values(
            status=status,
            version=version,
            updated_at=now,
            deny_reason="offboarded" if cancelled else req.deny_reason,
            decided_by_email=ACTOR if cancelled else req.decided_by_email,
            decided_at=now if cancelled else req.decided_at,
            expires_at=None,
            remind_at=None,
            escalate_at=None,
        )
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return None
    _mark_ended(req, status, request_id)  # the row is this transaction's now
    session.add(req)
    return promise(session, *change_job(req.id, version))


def _mark_ended(req: Request, status: RequestStatus, request_id: int) -> None:
    """Which offboarding ended the request (`card_jobs` finds it by this), in the kind's own details model, which
    adds what it means for the kind (an access grant is no longer active)."""
    details = details_of(req, kind_of(req).details_model)
    details.ended_by_offboarding(request_id, status)
    store_details(req, details)


def cancel_open_requests(email: str, request_id: int) -> list[str]:
    """The person's open requests (as requester or as the one they are for), cancelled with reason "offboarded"."""
    rt = runtime.current()
    now = rt.clock.now()
    cancelled = []
    with rt.db.session() as session:
        rows = session.exec(
            select(Request)
            .where(col(Request.status).in_(OPEN_REQUEST), Request.kind != "offboarding")
            .where(or_(col(Request.requester_email) == email, col(Request.subject_email) == email))
        ).all()
        for req in rows:
            if _end_request(session, req, RequestStatus.CANCELLED, request_id, now) is None:
                continue
            cancelled.append(req.ref)
            audit.append(
                session,
                actor=ACTOR,
                action="request.cancelled",
                subject=email,
                request_id=req.id,
                detail={"reason": "offboarded", "by": _reason(request_id)},
            )
    return cancelled


def stop_rotations(email: str, request_id: int) -> tuple[list[str], list[str]]:
    """The person's own key rotations that have not finished: stopped (and their requests cancelled).
    Returns (stopped, still mid-step)."""
    rt = runtime.current()
    now = rt.clock.now()
    stopped, in_flight = [], []
    with rt.db.session() as session:
        rows = session.exec(
            select(KeyRotation, Request)
            .where(col(KeyRotation.request_id) == col(Request.id))
            .where(col(Request.requester_email) == email, col(KeyRotation.service_user).is_(False))
            .where(col(KeyRotation.finished_at).is_(None))
        ).all()
        for rot, req in rows:
            if rot.status not in STOPPABLE_ROTATION:
                if rot.status not in ("done", "rolled_back", "stopped"):
                    in_flight.append(f"{req.ref} ({rot.status})")
                continue
            moved = session.execute(
                update(KeyRotation)
                .where(col(KeyRotation.id) == rot.id, col(KeyRotation.status) == rot.status)
                .values(status="stopped", finished_at=now, deactivate_at=None, delete_at=None)
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                continue
            _end_request(session, req, RequestStatus.CANCELLED, request_id, now)
            stopped.append(req.ref)
            audit.append(
                session,
                actor=ACTOR,
                action="aws_keys.rotation_stopped",
                subject=rot.iam_user,
                request_id=req.id,
                detail={"was": rot.status, "old_key_id": rot.old_key_id, "reason": _reason(request_id)},
            )
    return stopped, in_flight


def active_grants(email: str) -> list[Grant]:
    with runtime.current().db.session() as session:
        return list(session.exec(select(Grant).where(Grant.user_email == email, Grant.status == "active")))


def close_grant(grant: Grant, request_id: int) -> str | None:
    """After the Okta removal: the grant ended (compare-and-set on `active`), audited; its request's card refreshed."""
    rt = runtime.current()
    now = rt.clock.now()
    reason = _reason(request_id)
    with rt.db.session() as session:
        moved = session.execute(
            update(Grant)
            .where(col(Grant.id) == grant.id, col(Grant.status) == "active")
            .values(status="ended", ended_at=now, ended_by=ACTOR, end_reason=reason)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            return None
        req = session.get(Request, grant.request_id)
        assert req is not None
        _end_request(session, req, RequestStatus.REVOKED, request_id, now)
        audit.append(
            session,
            actor=ACTOR,
            action="access.revoked",
            subject=grant.user_email,
            request_id=grant.request_id,
            detail={"group": grant.okta_group, "reason": reason},
        )
        return f"{req.ref} ({grant.okta_group})"


def card_jobs(request_id: int) -> list[Job]:
    """The card refreshes promised by this offboarding's `engops_end_grants` and not yet handed to the queue."""
    with runtime.current().db.session() as session:
        rows = session.exec(select(Handover).where(Handover.workflow == "request_changed")).all()
        ids = {int(r.args[0]) for r in rows if r.args}
        ours = {
            req.id
            for req in session.exec(select(Request).where(col(Request.id).in_(sorted(ids))))
            if details_of(req, RequestDetails).offboarded_by == request_id
        }
        return [(r.workflow, r.workflow_id, list(r.args)) for r in rows if r.args and int(r.args[0]) in ours]


def planned(email: str) -> str:
    """What `engops_end_grants` would end for this person now (the preview's line), "" when nothing."""
    with runtime.current().db.session() as session:
        grants = session.exec(select(Grant).where(Grant.user_email == email, Grant.status == "active")).all()
        open_requests = session.exec(
            select(Request)
            .where(col(Request.status).in_(OPEN_REQUEST), Request.kind != "offboarding")
            .where(or_(col(Request.requester_email) == email, col(Request.subject_email) == email))
        ).all()
        rotations = session.exec(
            select(Request.id)
            .where(col(KeyRotation.request_id) == col(Request.id))
            .where(col(Request.requester_email) == email, col(KeyRotation.service_user).is_(False))
            .where(col(KeyRotation.status).in_(STOPPABLE_ROTATION))
        ).all()
        parts = []
        if grants:
            parts.append(f"remove Okta grant(s) {', '.join(sorted({g.okta_group for g in grants}))}")
        if open_requests:
            parts.append(f"cancel open request(s) {', '.join(r.ref for r in open_requests)}")
        if rotations:
            parts.append(f"stop key rotation(s) {', '.join(f'REQ-{i}' for i in rotations)}")
        return "; ".join(parts)
