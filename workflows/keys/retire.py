"""Retiring the old key after a rotation (SPEC §6.3): the sweep claims what is due, then one workflow
deactivates the old key after `deactivate_after` (postponed while it is still used after the new key was
created) and another deletes it after `delete_after`. Each step moves the rotation by compare-and-set, so a
rollback that lands in between wins."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, select

from bot.db.models import RequestStatus
from bot.db.models_keys import KeyRotation
from bot.durations import format_duration
from bot.providers.errors import ProviderError
from workflows.engine import runtime
from workflows.engine.durable import durable, step
from workflows.engine.handover import promise
from workflows.engine.sweep import Job, due_handler
from workflows.keys.failpoints import FAILPOINTS
from workflows.keys.notices import announce
from workflows.keys.rules import find_key, still_used
from workflows.keys.state import audit_rotation, finish, finish_gone, move, rotation_in


@due_handler("key_rotation.retire_old_keys")
def retire_old_keys(now: datetime) -> list[Job]:
    """Claim what is due (grace -> deactivating, deactivated -> deleting) and start the workflows."""
    minute = int(now.timestamp()) // 60  # a failed attempt goes back to its state and is claimed again later
    with runtime.current().db.session() as session:
        to_deactivate = _claim(session, "grace", col(KeyRotation.deactivate_at) <= now, "deactivating")
        to_delete = _claim(session, "deactivated", col(KeyRotation.delete_at) <= now, "deleting")
        # promised with the claim: a sweep killed before it starts the jobs leaves them to the next one
        return [
            *(promise(session, "deactivate_old_key", f"key-deactivate-{i}-{minute}", i) for i in to_deactivate),
            *(promise(session, "delete_old_key", f"key-delete-{i}-{minute}", i) for i in to_delete),
        ]


def _claim(session: Session, due: str, when: ColumnElement[bool], claimed: str) -> list[int]:
    """Move the rotations in `due` whose time came (`when`) to `claimed`; their ids."""
    ids: list[int] = []
    for rot in list(session.exec(select(KeyRotation).where(KeyRotation.status == due).where(when))):
        assert rot.id is not None
        rot.status = claimed
        session.add(rot)
        ids.append(rot.id)
    return ids


def _give_back(rotation_id: int, rot: KeyRotation, exc: ProviderError, *, claimed: str, due: str, action: str) -> None:
    """An AWS call failed: move the rotation from `claimed` back to `due`, so the next sweep claims it and
    tries again, and audit `action` with the error."""
    move(rotation_id, claimed, status=due)
    audit_rotation(rot, action, {"error": exc.message})


@step("workflows.key_rotation._deactivate_or_postpone")
def _deactivate_or_postpone(rotation_id: int) -> str | None:
    """Deactivate the old key, or postpone when it was used after the new key was created.
    Returns what to tell the people concerned (None: nothing changed)."""
    rt = runtime.current()
    now = rt.clock.now()
    rules = rt.policy.aws_keys
    found = rotation_in(rotation_id, "deactivating")
    if found is None:
        return None
    rot, ref = found[0], found[1].ref
    FAILPOINTS.hit("before_deactivate")
    aws = rt.require_aws()
    try:
        old = find_key(aws.list_keys(rot.iam_user), rot.old_key_id)
        if old is not None and still_used(old, rot):
            assert old.last_used is not None
            again = now + rules.deactivate_after
            moved = move(
                rotation_id,
                "deactivating",
                status="grace",
                deactivate_at=again,
                postponed=rot.postponed + 1,
                postponed_at=now,
            )
            if not moved:
                return None
            audit_rotation(
                rot,
                "aws_keys.deactivation_postponed",
                {"old_key_id": rot.old_key_id, "last_used": old.last_used.isoformat()},
            )
            since = "since the last check" if rot.postponed else "after the new key was created"
            return (
                f"{ref}: the old access key {rot.old_key_id} of {rot.iam_user} was used "
                f"{old.last_used:%Y-%m-%d %H:%M UTC}, {since}, so it stays active. "
                f"Switch what still uses it to the new key (Secrets Manager: {rot.secret_name}); "
                f"I'll check again in {format_duration(rules.deactivate_after)}."
            )
        if old is not None:
            aws.set_key_status(rot.iam_user, old.id, active=False)
    except ProviderError as exc:
        _give_back(rotation_id, rot, exc, claimed="deactivating", due="grace", action="aws_keys.deactivate_failed")
        return None
    FAILPOINTS.hit("after_deactivate")
    if old is None:
        return finish_gone(rot, "deactivating", ref, now)
    keep = max(timedelta(0), rules.delete_after - rules.deactivate_after)
    if not move(rotation_id, "deactivating", status="deactivated", deactivated_at=now, delete_at=now + keep):
        # Rolled back while we deactivated: the rollback wins, whichever AWS call landed last.
        aws.set_key_status(rot.iam_user, old.id, active=True)
        return None
    audit_rotation(rot, "aws.key_deactivated", {"key_id": old.id})
    return (
        f"{ref}: the old access key {old.id} of {rot.iam_user} is now deactivated. It is deleted in "
        f"{format_duration(keep) if keep else 'a moment'}; until then Reactivate old key rolls back."
    )


@step("workflows.key_rotation._delete_old")
def _delete_old(rotation_id: int) -> str | None:
    rt = runtime.current()
    now = rt.clock.now()
    found = rotation_in(rotation_id, "deleting")
    if found is None:
        return None
    rot, ref = found[0], found[1].ref
    assert rot.old_key_id is not None
    FAILPOINTS.hit("before_delete")
    try:
        rt.require_aws().delete_key(rot.iam_user, rot.old_key_id)  # already gone counts as deleted
    except ProviderError as exc:
        _give_back(rotation_id, rot, exc, claimed="deleting", due="deactivated", action="aws_keys.delete_failed")
        return None
    FAILPOINTS.hit("after_delete")
    deleted = finish(
        rot,
        "deleting",
        now,
        status="done",
        request_status=RequestStatus.DONE,
        actor="engops-bot",
        action="aws.key_deleted",
        detail={"key_id": rot.old_key_id},
    )
    if not deleted:
        return None
    return f"{ref}: the old access key {rot.old_key_id} of {rot.iam_user} was deleted. The rotation is complete."


@durable("deactivate_old_key")
def deactivate_old_key(rotation_id: int) -> None:
    text = _deactivate_or_postpone(rotation_id)
    if text:
        announce(rotation_id, text)


@durable("delete_old_key")
def delete_old_key(rotation_id: int) -> None:
    text = _delete_old(rotation_id)
    if text:
        announce(rotation_id, text)
