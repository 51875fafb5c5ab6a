"""The stored rotation (`KeyRotation`) and its request: reading them, moving the rotation from one status to
the next by compare-and-set (a rollback can land while the sweep retires the old key), finishing both."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from bot import audit
from bot.db.models import Request, RequestStatus
from bot.db.models_keys import KeyRotation
from workflows.engine import runtime


def request_of(session: Session, request_id: int) -> Request:
    req = session.get(Request, request_id)
    assert req is not None
    return req


def rotation_of(session: Session, request_id: int) -> KeyRotation | None:
    return session.exec(select(KeyRotation).where(KeyRotation.request_id == request_id)).first()


def rotation_in(rotation_id: int, status: str) -> tuple[KeyRotation, Request] | None:
    """The rotation and its request, if it is (still) in `status` and has an old key: what a step that retires
    or restores the old key works on."""
    with runtime.current().db.session() as session:
        rot = session.get(KeyRotation, rotation_id)
        if rot is None or rot.status != status or rot.old_key_id is None:
            return None
        return rot, request_of(session, rot.request_id)


def audit_rotation(rot: KeyRotation, action: str, detail: dict[str, Any]) -> None:
    """Audit what the bot did to the rotation's IAM user, in a transaction of its own."""
    audit.record(
        runtime.current().db,
        actor="engops-bot",
        action=action,
        subject=rot.iam_user,
        request_id=rot.request_id,
        detail=detail,
    )


def moved(session: Session, rotation_id: int, from_status: str, **values: Any) -> bool:
    """Set `values` on the rotation if it is still in `from_status`; whether it was."""
    result = session.execute(
        update(KeyRotation)
        .where(col(KeyRotation.id) == rotation_id, col(KeyRotation.status) == from_status)
        .values(**values)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def move(rotation_id: int, from_status: str, **values: Any) -> bool:
    """`moved`, in a transaction of its own."""
    with runtime.current().db.session() as session:
        return moved(session, rotation_id, from_status, **values)


def finish(
    rot: KeyRotation,
    from_status: str,
    now: datetime,
    *,
    status: str,
    request_status: RequestStatus,
    actor: str,
    action: str,
    detail: dict[str, Any],
    by: str | None = None,
) -> bool:
    """End the rotation (`status`) and its request (`request_status`, decided `by` someone) and audit `action`,
    if the rotation is still in `from_status`; whether it was (otherwise nothing is written)."""
    assert rot.id is not None
    with runtime.current().db.session() as session:
        if not moved(session, rot.id, from_status, status=status, finished_at=now):
            return False
        req = request_of(session, rot.request_id)
        req.status, req.version, req.updated_at = request_status, req.version + 1, now
        if by:
            req.decided_by_email, req.decided_at = by, now
        session.add(req)
        audit.append(
            session, actor=actor, action=action, subject=rot.iam_user, request_id=rot.request_id, detail=detail
        )
    return True


def finish_gone(rot: KeyRotation, from_status: str, ref: str, now: datetime) -> str | None:
    """The old key no longer exists: the rotation is complete. Returns what to tell (None: it had moved on)."""
    done = finish(
        rot,
        from_status,
        now,
        status="done",
        request_status=RequestStatus.DONE,
        actor="engops-bot",
        action="aws_keys.rotation_done",
        detail={"old_key_id": rot.old_key_id, "note": "already gone"},
    )
    if not done:
        return None
    return f"{ref}: the old access key {rot.old_key_id} of {rot.iam_user} no longer exists; the rotation is complete."
