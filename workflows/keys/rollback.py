"""**Reactivate old key** (SPEC §6.3): until the old key is being deleted, the person, a service user's owners or
an IT admin roll the rotation back (`permissions.reactivate_old_key`). The old key is active again, both keys stay,
and the rest of the rotation is cancelled."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from bot import audit, permissions
from bot.db import queries
from bot.db.details import details_of
from bot.db.engine import Database
from bot.db.models import Request, RequestStatus
from bot.db.models_keys import KeyRotation
from bot.providers.errors import NotFoundError
from workflows.engine import runtime
from workflows.engine.approvals import Outcome
from workflows.engine.durable import Dispatcher, durable, step
from workflows.engine.handover import deliver, promise
from workflows.keys.details import KeyRotationDetails
from workflows.keys.notices import announce
from workflows.keys.rules import find_key
from workflows.keys.state import audit_rotation, finish, finish_gone, move, moved, rotation_in, rotation_of


def reactivate(
    db: Database, dispatcher: Dispatcher, request_id: int, clicker: str, click_id: str, now: datetime
) -> Outcome:
    """Handler side (database only): the person, the service user's owners or an IT admin roll back."""
    with db.session() as session:
        req = session.get(Request, request_id)
        rot = rotation_of(session, request_id)
        if req is None or rot is None or rot.id is None:
            return Outcome(False, f"REQ-{request_id} is not a key rotation with a new key.")
        actor = queries.actor_of(session, clicker, runtime.current().policy)
        email = actor.email or ""
        verdict = permissions.reactivate_old_key(actor, _rotation_facts(session, req, rot))
        if not verdict.ok:
            return Outcome(False, verdict.message)
        if not moved(session, rot.id, rot.status, status="reactivating", rolled_back_by=email or clicker):
            return Outcome(False, f"{req.ref} changed at the same moment; nothing changed. Try again.")
        audit.append(
            session,
            actor=email or clicker,
            action="aws_keys.rollback_requested",
            subject=rot.iam_user,
            request_id=request_id,
            detail={"old_key_id": rot.old_key_id},
        )
        job = promise(session, "reactivate_old_key", f"key-reactivate-{rot.id}-{click_id}", rot.id)
    deliver(dispatcher, job)
    return Outcome(True, f"Reactivating the old key of {rot.iam_user} ({req.ref}).")


def _rotation_facts(session: Session, req: Request, rot: KeyRotation) -> permissions.RotationFacts:
    return permissions.RotationFacts(
        ref=req.ref,
        iam_user=rot.iam_user,
        service_user=rot.service_user,
        requester_slack_id=req.requester_slack_id,
        requester_email=req.requester_email,
        owners=tuple(o.lower() for o in details_of(req, KeyRotationDetails).owners),
        status=rot.status,
        old_key_id=rot.old_key_id,
        rolled_back_by=rot.rolled_back_by,
        person_offboarding=None if rot.service_user else queries.offboarding_state_of(session, req.requester_email),
    )


@step("workflows.key_rotation._reactivate", retries_allowed=True, max_attempts=5, interval_seconds=2.0)
def _reactivate(rotation_id: int) -> str | None:
    rt = runtime.current()
    now = rt.clock.now()
    found = rotation_in(rotation_id, "reactivating")
    if found is None:
        return None
    rot, req = found
    assert rot.old_key_id is not None
    ref = req.ref
    with rt.db.session() as session:
        facts = _rotation_facts(session, req, rot)
    if facts.person_offboarding is not None:  # offboarded since the click: their rotations stop
        return _stop_rollback(rotation_id, rot, f"{ref}: {req.requester_email} is being offboarded")
    aws = rt.require_aws()
    try:
        old = find_key(aws.list_keys(rot.iam_user), rot.old_key_id)
        if old is None:
            return finish_gone(rot, "reactivating", ref, now)
        if not permissions.may_reactivate_key(rot.deactivated_at is not None, old.status):
            return _stop_rollback(
                rotation_id, rot, f"{ref}: the old key {old.id} was deactivated outside this rotation"
            )
        aws.set_key_status(rot.iam_user, rot.old_key_id, active=True)
    except NotFoundError:
        return finish_gone(rot, "reactivating", ref, now)
    who = rot.rolled_back_by or "someone"
    rolled_back = finish(
        rot,
        "reactivating",
        now,
        status="rolled_back",
        request_status=RequestStatus.CANCELLED,
        actor=who,
        action="aws.key_reactivated",
        detail={"key_id": rot.old_key_id, "new_key_id": rot.new_key_id},
        by=who,
    )
    if not rolled_back:
        return None
    return (
        f"{ref}: rolled back by {who}. The old access key {rot.old_key_id} of {rot.iam_user} is active again, "
        f"both keys stay, and the rest of the rotation is cancelled (the new key stays in {rot.secret_name})."
    )


def _stop_rollback(rotation_id: int, rot: KeyRotation, why: str) -> str | None:
    """The rollback is refused at run time: the key stays as it is and the rotation carries on where it was."""
    back = "deactivated" if rot.deactivated_at is not None else "grace"
    if not move(rotation_id, "reactivating", status=back, rolled_back_by=None):
        return None
    audit_rotation(rot, "aws_keys.rollback_refused", {"old_key_id": rot.old_key_id, "why": why})
    return (
        f"{why}; the old key was not reactivated (SPEC: Reactivate only re-activates the key its rotation turned off)."
    )


@durable("reactivate_old_key")
def reactivate_old_key(rotation_id: int) -> None:
    text = _reactivate(rotation_id)
    if text:
        announce(rotation_id, text)
