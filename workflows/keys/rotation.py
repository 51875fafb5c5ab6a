"""AWS access key rotation (SPEC §6.3): the request kind, the rotation protocol, retiring the old key, rollback.

Protocol, one durable step each: prepare (record the key being retired) → create the new key *and* put it in
Secrets Manager (one step: the secret half never leaves it; DBOS stores step outputs, so the step returns
only the key id and the secret's ARN) → start the grace period → DM where the key is. Then the sweep
deactivates the old key after `deactivate_after` (postponed while it is still used after the new key was
created) and deletes it after `delete_after`. **Reactivate old key** rolls back during the grace period.

Crash safety: a crash inside the create-and-store step re-runs it. It first settles what an interrupted
attempt left: a key other than the old one whose secret version (the client request token derived from
the request and that key) exists is reused; any other such key is useless without its secret and is
deleted. So a retry never leaves an orphan key, never hits the two-key limit, and never makes a second
secret version.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from bot import audit, permissions
from bot.db import queries
from bot.db.engine import Database
from bot.db.models import Request
from bot.db.models_keys import KeyRotation
from bot.durations import format_duration
from bot.providers.aws import AccessKey, KeyLimitError
from bot.providers.errors import NotFoundError, ProviderError
from bot.slack import key_views
from bot.slack.escape import escape
from workflows.engine import identity, people, runtime
from workflows.engine.approvals import Outcome, notify_requester, refresh_cards
from workflows.engine.durable import Dispatcher, durable, step
from workflows.engine.handover import deliver, promise
from workflows.engine.kinds import PlanError, register_kind
from workflows.engine.sweep import Job, due_handler

log = logging.getLogger(__name__)

KIND = "key_rotation"
IN_PROGRESS = ("preparing", "grace", "deactivating", "deactivated", "deleting", "reactivating")
_OPEN_REQUEST = ("submitted", "pending", "approved", "running")
_TOKEN_NAMESPACE = uuid.UUID("6f1c2a8e-4b1d-5e0a-9a57-3c0f5d8b2e11")


# --- test hook: simulated crashes --------------------------------------------------------------------------------
class SimulatedCrash(BaseException):
    """Raised at an armed failpoint. A BaseException, so DBOS records nothing and the workflow stays
    pending, exactly as when the process dies there; the next start of the worker recovers it."""


class Failpoints:
    """Named points in the protocol where a test can make the process 'die' once."""

    def __init__(self) -> None:
        self._armed: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def arm(self, name: str) -> threading.Event:
        """Crash the next time `name` is reached; the event is set when it happened."""
        with self._lock:
            return self._armed.setdefault(name, threading.Event())

    def disarm_all(self) -> None:
        with self._lock:
            self._armed.clear()

    def hit(self, name: str) -> None:
        with self._lock:
            event = self._armed.pop(name, None)
        if event is not None:
            event.set()
            raise SimulatedCrash(name)


FAILPOINTS = Failpoints()


# --- shared rules ---------------------------------------------------------------------------------------------------
def two_key_refusal(iam_user: str, keys: list[AccessKey]) -> tuple[str | None, str | None]:
    """(why no new key can be made now, the inactive key to offer for deletion)."""
    if len(keys) < 2:
        return None, None
    inactive = [k for k in keys if k.status == "Inactive"]
    if not inactive:
        return (
            f"{iam_user} already has two active access keys, the most IAM allows, so no new key can be made. "
            "Deactivate the one that is no longer used (or let a running rotation retire it), then try again.",
            None,
        )
    return (
        f"{iam_user} already has two access keys, the most IAM allows. Delete the inactive key "
        f"{inactive[0].id} first, then rotate.",
        inactive[0].id,
    )


def rotation_in_progress(session: Session, iam_user: str, before: int | None = None) -> str | None:
    """The ref of an open rotation of this IAM user (with `before`, only an earlier one: the first asked wins)."""
    query = select(Request).where(Request.kind == KIND).where(col(Request.status).in_(_OPEN_REQUEST))
    if before is not None:
        query = query.where(col(Request.id) < before)
    for req in session.exec(query.order_by(col(Request.id))):
        if req.details.get("iam_user") == iam_user:
            return req.ref
    return None


def secret_name_for(iam_user: str) -> str:
    return runtime.current().policy.aws_keys.secret_name.format(user=iam_user)


def _token(request_id: int, key_id: str) -> str:
    """Secrets Manager's ClientRequestToken (= the version id): one per request and key, so a retried store
    of the same key makes no second version, and its presence tells that the key's secret was stored."""
    return str(uuid.uuid5(_TOKEN_NAMESPACE, f"REQ-{request_id}/{key_id}"))


def _find(keys: list[AccessKey], key_id: str | None) -> AccessKey | None:
    return next((k for k in keys if k.id == key_id), None)


# --- the request kind -------------------------------------------------------------------------------------------------
class KeyRotationKind:
    name = KIND

    def plan(self, req: Request) -> list[str]:
        rt = runtime.current()
        rules = rt.policy.aws_keys
        iam_user = str(req.details.get("iam_user") or "")
        aws = rt.require_aws()
        refused = cut_off(req.requester_slack_id, req.requester_email)
        if refused:
            raise PlanError(refused.rstrip("."))
        service = iam_user in rules.service_users
        if service and (not req.details.get("service_user") or "owners" not in req.details.get("step_specs", [])):
            raise PlanError(f"{iam_user} is a service user (aws_keys.service_users): one of its owners must approve.")
        if not service:
            if req.details.get("service_user"):
                raise PlanError(f"{iam_user} is not a service user in the policy (aws_keys.service_users).")
            own = identity.iam_user_of(req.requester_email)
            if isinstance(own, identity.Refusal):
                raise PlanError(own.text)
            if own != iam_user:
                raise PlanError(f"{iam_user} is not your IAM user; you can rotate your own keys or a service user's.")
        try:
            keys = aws.list_keys(iam_user)
        except NotFoundError:
            raise PlanError(f"the IAM user {iam_user} does not exist.") from None
        refusal, _ = two_key_refusal(iam_user, keys)
        if refusal:
            raise PlanError(refusal)
        with rt.db.session() as session:
            busy = rotation_in_progress(session, iam_user, before=req.id)
        if busy:
            raise PlanError(f"{iam_user} already has a rotation in progress ({busy}).")
        lines = [
            f"AWS: create a new access key for IAM user {iam_user}",
            f"Secrets Manager: store it as {secret_name_for(iam_user)} (the requester gets its name and ARN, "
            "never the key)",
        ]
        for key in keys:
            lines.append(
                f"AWS: deactivate {key.id} ({key.status.lower()}, created {key.created:%Y-%m-%d}) after "
                f"{format_duration(rules.deactivate_after)}, later if it is still used after the new key "
                "was created"
            )
            lines.append(f"AWS: delete {key.id} after {format_duration(rules.delete_after)}")
        if not keys:
            lines.append(f"{iam_user} has no key yet: nothing to retire")
        return lines

    def execute_workflow(self) -> str:
        return "execute_key_rotation"

    def requester_actions(self, req: Request) -> list[str]:
        return []  # Reactivate old key lives on the rotation notice (key_views.notice_blocks)


register_kind(KeyRotationKind())


def cut_off(slack_id: str, email: str) -> str | None:
    """Why this person may not rotate keys now (SPEC §6.2): Okta says who is suspended, the database who is
    being offboarded. Used by the preview and the plan (the listener knows only what its caches know)."""
    rt = runtime.current()
    with rt.db.session() as session:
        offboarding = queries.offboarding_state_of(session, email)
    user = rt.okta.get_user(email) if rt.okta is not None and offboarding is None else None
    actor = permissions.Actor(
        slack_id=slack_id,
        email=email,
        offboarding=offboarding,
        suspended=user is not None and user.status in ("SUSPENDED", "DEPROVISIONED"),
    )
    verdict = permissions.rotate_keys(actor)
    return None if verdict.ok else verdict.message


# --- the protocol ---------------------------------------------------------------------------------------------------
def _request(session: Session, request_id: int) -> Request:
    req = session.get(Request, request_id)
    assert req is not None
    return req


def _rotation_of(session: Session, request_id: int) -> KeyRotation | None:
    return session.exec(select(KeyRotation).where(KeyRotation.request_id == request_id)).first()


@step("workflows.key_rotation._prepare")
def _prepare(request_id: int) -> str | None:
    """Record the rotation and the key it retires (once per request); returns why it cannot start."""
    rt = runtime.current()
    with rt.db.session() as session:
        req = _request(session, request_id)
        existing = _rotation_of(session, request_id)
        if existing is not None:
            if existing.status == "failed":  # Retry failed steps
                existing.status = "preparing"
                session.add(existing)
            return None
        iam_user, service = str(req.details["iam_user"]), bool(req.details.get("service_user"))
    try:
        keys = rt.require_aws().list_keys(iam_user)
    except ProviderError as exc:
        return f"AWS: {exc.message}"
    refusal, _ = two_key_refusal(iam_user, keys)
    if refusal:
        return refusal
    old = keys[0].id if keys else None
    with rt.db.session() as session:
        session.add(
            KeyRotation(
                request_id=request_id,
                iam_user=iam_user,
                service_user=service,
                old_key_id=old,
                secret_name=secret_name_for(iam_user),
            )
        )
        audit.append(
            session,
            actor="engops-bot",
            action="aws_keys.rotation_started",
            subject=iam_user,
            request_id=request_id,
            detail={"old_key_id": old},
        )
    return None


def _settle_leftovers(request_id: int, rot: KeyRotation) -> dict[str, str] | None:
    """After an interrupted attempt: reuse its key when its secret was stored, else delete it."""
    aws = runtime.current().require_aws()
    for key in aws.list_keys(rot.iam_user):
        if key.id == rot.old_key_id:
            continue
        arn = aws.secret_version_arn(rot.secret_name, _token(request_id, key.id))
        if arn is not None:
            return {"key_id": key.id, "arn": arn, "created": key.created.isoformat()}
        aws.delete_key(rot.iam_user, key.id)
        audit.record(
            runtime.current().db,
            actor="engops-bot",
            action="aws.key_deleted",
            subject=rot.iam_user,
            request_id=request_id,
            detail={"key_id": key.id, "why": "left by an interrupted attempt, its secret never stored"},
        )
    return None


def _record_new_key(rot: KeyRotation, key_id: str) -> None:
    """Right after creation, so the key is accounted for even if the secret never gets stored."""
    with runtime.current().db.session() as session:
        session.execute(update(KeyRotation).where(col(KeyRotation.id) == rot.id).values(new_key_id=key_id))
        audit.append(
            session,
            actor="engops-bot",
            action="aws.key_created",
            subject=rot.iam_user,
            request_id=rot.request_id,
            detail={"key_id": key_id},
        )


@step("workflows.key_rotation._create_and_store")
def _create_and_store(request_id: int) -> dict[str, str] | str:
    """Create the new key and put it straight into Secrets Manager. Returns the key id, the secret's ARN and
    the key's creation time (never the secret), or why it failed."""
    rt = runtime.current()
    FAILPOINTS.hit("before_create")
    with rt.db.session() as session:
        rot = _rotation_of(session, request_id)
        assert rot is not None and rot.id is not None
    if rot.status == "stopped":  # the person was offboarded meanwhile: no new key, ever
        return "stopped: the person was offboarded; no new key was made."
    aws = rt.require_aws()
    try:
        reused = _settle_leftovers(request_id, rot)
        if reused is not None:
            return reused
        key, secret = aws.create_key(rot.iam_user)
    except KeyLimitError:
        return f"{rot.iam_user} already has two access keys; no new key was made."
    except ProviderError as exc:
        return f"AWS: {exc.message}"
    _record_new_key(rot, key.id)
    FAILPOINTS.hit("after_create_key")
    try:
        arn = aws.put_secret(rot.secret_name, secret.as_secret_value(), _token(request_id, key.id))
    except ProviderError as exc:
        try:
            aws.delete_key(rot.iam_user, key.id)  # useless without its secret; a retry settles it otherwise
        except ProviderError:
            log.warning("REQ-%s: could not delete key %s after the secret failed to store", request_id, key.id)
        return f"Secrets Manager: {exc.message}"
    FAILPOINTS.hit("after_store_secret")
    return {"key_id": key.id, "arn": arn, "created": key.created.isoformat()}


@step("workflows.key_rotation._start_grace")
def _start_grace(request_id: int, made: dict[str, str]) -> None:
    FAILPOINTS.hit("before_start_grace")
    rt = runtime.current()
    now = rt.clock.now()
    rules = rt.policy.aws_keys
    with rt.db.session() as session:
        rot = _rotation_of(session, request_id)
        req = _request(session, request_id)
        assert rot is not None
        if rot.status != "preparing":
            return
        rot.new_key_id, rot.secret_arn = made["key_id"], made["arn"]
        rot.new_key_created_at = datetime.fromisoformat(made["created"])
        rot.rotated_at = now
        if rot.old_key_id:
            rot.status, rot.deactivate_at = "grace", now + rules.deactivate_after
        else:
            rot.status, rot.finished_at = "done", now
            req.status = "done"
        req.details = {**req.details, "new_key_id": rot.new_key_id, "secret_name": rot.secret_name}
        req.version += 1
        req.updated_at = now
        session.add(rot)
        session.add(req)
        audit.append(
            session,
            actor="engops-bot",
            action="aws_keys.rotated",
            subject=rot.iam_user,
            request_id=request_id,
            detail={
                "old_key_id": rot.old_key_id,
                "new_key_id": rot.new_key_id,
                "secret_name": rot.secret_name,
                "secret_arn": rot.secret_arn,
            },
        )


def _recipients(req: Request) -> list[str]:
    """Slack ids told about the rotation: the requester, and a service user's owners."""
    found = [req.requester_slack_id]
    if req.details.get("service_user"):
        found += [people.slack_id_of(str(o)) or "" for o in req.details.get("owners", [])]
    return [s for s in dict.fromkeys(found) if s]


@step("workflows.key_rotation._send_notices", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _send_notices(request_id: int) -> None:
    """The DM saying where the new key is (with Reactivate old key), once per recipient."""
    FAILPOINTS.hit("before_notices")
    rt = runtime.current()
    with rt.db.session() as session:
        req = _request(session, request_id)
        rot = _rotation_of(session, request_id)
        assert rot is not None and rot.id is not None
    done = {str(n["slack_id"]) for n in rot.notices}
    for slack_id in _recipients(req):
        if slack_id in done:
            continue
        posted = rt.slack.dm(
            slack_id, key_views.notice_text(req.ref, rot), key_views.notice_blocks(req.ref, rot, rt.policy.aws_keys)
        )
        with rt.db.session() as session:
            row = session.get(KeyRotation, rot.id)
            assert row is not None
            row.notices = [*row.notices, {"slack_id": slack_id, "channel": posted.channel, "ts": posted.ts}]
            session.add(row)


@step("workflows.key_rotation._update_notices", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _update_notices(rotation_id: int) -> int:
    """Re-render every notice from the stored state; returns the request id."""
    rt = runtime.current()
    with rt.db.session() as session:
        rot = session.get(KeyRotation, rotation_id)
        assert rot is not None
        ref = _request(session, rot.request_id).ref
    blocks = key_views.notice_blocks(ref, rot, rt.policy.aws_keys)
    for notice in rot.notices:
        rt.slack.update(str(notice["channel"]), str(notice["ts"]), key_views.notice_text(ref, rot), blocks)
    return rot.request_id


@step("workflows.key_rotation._tell", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _tell(request_id: int, text: str) -> None:
    rt = runtime.current()
    with rt.db.session() as session:
        req = _request(session, request_id)
    for slack_id in _recipients(req):
        rt.slack.dm(slack_id, escape(text))


@step("workflows.key_rotation._mark_rotation_failed")
def _mark_rotation_failed(request_id: int, error: str) -> None:
    rt = runtime.current()
    with rt.db.session() as session:
        req = _request(session, request_id)
        rot = _rotation_of(session, request_id)
        req.status, req.error, req.version = "failed", error, req.version + 1
        req.updated_at = rt.clock.now()
        session.add(req)
        if rot is not None and rot.status == "preparing":
            rot.status = "failed"
            session.add(rot)
        audit.append(
            session,
            actor="engops-bot",
            action="aws_keys.rotation_failed",
            request_id=request_id,
            subject=str(req.details.get("iam_user", "")),
            detail={"error": error},
        )


@durable("execute_key_rotation")
def execute_key_rotation(request_id: int, attempt: int) -> None:
    problem = _prepare(request_id)
    made = _create_and_store(request_id) if problem is None else problem
    if isinstance(made, str):
        _mark_rotation_failed(request_id, made)
        refresh_cards(request_id)
        notify_requester(
            request_id, f"REQ-{request_id} failed: {made} Use Retry failed steps on the card to try again."
        )
        return
    _start_grace(request_id, made)
    _send_notices(request_id)
    refresh_cards(request_id)


# --- retiring the old key -------------------------------------------------------------------------------------------
@due_handler("key_rotation.retire_old_keys")
def retire_old_keys(now: datetime) -> list[Job]:
    """Claim what is due (grace -> deactivating, deactivated -> deleting) and start the workflows."""
    minute = int(now.timestamp()) // 60  # a failed attempt goes back to its state and is claimed again later
    jobs: list[Job] = []
    with runtime.current().db.session() as session:
        for rot in list(
            session.exec(
                select(KeyRotation).where(KeyRotation.status == "grace").where(col(KeyRotation.deactivate_at) <= now)
            )
        ):
            rot.status = "deactivating"
            session.add(rot)
            # promised with the claim: a sweep killed before it starts the job leaves it to the next one
            jobs.append(promise(session, "deactivate_old_key", f"key-deactivate-{rot.id}-{minute}", rot.id))
        for rot in list(
            session.exec(
                select(KeyRotation).where(KeyRotation.status == "deactivated").where(col(KeyRotation.delete_at) <= now)
            )
        ):
            rot.status = "deleting"
            session.add(rot)
            jobs.append(promise(session, "delete_old_key", f"key-delete-{rot.id}-{minute}", rot.id))
    return jobs


def _move(rotation_id: int, from_status: str, **values: Any) -> bool:
    """Compare-and-set the rotation's status (a rollback may have happened in between)."""
    with runtime.current().db.session() as session:
        moved = session.execute(
            update(KeyRotation)
            .where(col(KeyRotation.id) == rotation_id, col(KeyRotation.status) == from_status)
            .values(**values)
        )
        return bool(moved.rowcount == 1)  # type: ignore[attr-defined]


def _give_back(rotation_id: int, rot: KeyRotation, exc: ProviderError, *, claimed: str, due: str, action: str) -> None:
    """An AWS call failed: move the rotation from `claimed` back to `due`, so the next sweep claims it and
    tries again, and audit `action` with the error."""
    _move(rotation_id, claimed, status=due)
    audit.record(
        runtime.current().db,
        actor="engops-bot",
        action=action,
        subject=rot.iam_user,
        request_id=rot.request_id,
        detail={"error": exc.message},
    )


def _finish_request(session: Session, request_id: int, status: str, now: datetime, by: str | None = None) -> None:
    req = _request(session, request_id)
    req.status, req.version, req.updated_at = status, req.version + 1, now
    if by:
        req.decided_by_email, req.decided_at = by, now
    session.add(req)


def _still_used(old: AccessKey, rot: KeyRotation) -> bool:
    """Used after the new key was created, or, after a postponement, used again since that check."""
    marks = [t for t in (rot.new_key_created_at, rot.postponed_at) if t is not None]
    return old.last_used is not None and bool(marks) and old.last_used > max(marks)


@step("workflows.key_rotation._deactivate_or_postpone")
def _deactivate_or_postpone(rotation_id: int) -> str | None:
    """Deactivate the old key, or postpone when it was used after the new key was created.
    Returns what to tell the people concerned (None: nothing changed)."""
    rt = runtime.current()
    now = rt.clock.now()
    rules = rt.policy.aws_keys
    with rt.db.session() as session:
        rot = session.get(KeyRotation, rotation_id)
        if rot is None or rot.status != "deactivating":
            return None
        ref = _request(session, rot.request_id).ref
    FAILPOINTS.hit("before_deactivate")
    aws = rt.require_aws()
    try:
        old = _find(aws.list_keys(rot.iam_user), rot.old_key_id)
        if old is not None and _still_used(old, rot):
            assert old.last_used is not None
            again = now + rules.deactivate_after
            moved = _move(
                rotation_id,
                "deactivating",
                status="grace",
                deactivate_at=again,
                postponed=rot.postponed + 1,
                postponed_at=now,
            )
            if not moved:
                return None
            audit.record(
                rt.db,
                actor="engops-bot",
                action="aws_keys.deactivation_postponed",
                subject=rot.iam_user,
                request_id=rot.request_id,
                detail={"old_key_id": rot.old_key_id, "last_used": old.last_used.isoformat()},
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
        return _finish_gone(rotation_id, "deactivating", ref)
    keep = max(timedelta(0), rules.delete_after - rules.deactivate_after)
    if not _move(rotation_id, "deactivating", status="deactivated", deactivated_at=now, delete_at=now + keep):
        # Rolled back while we deactivated: the rollback wins, whichever AWS call landed last.
        aws.set_key_status(rot.iam_user, old.id, active=True)
        return None
    audit.record(
        rt.db,
        actor="engops-bot",
        action="aws.key_deactivated",
        subject=rot.iam_user,
        request_id=rot.request_id,
        detail={"key_id": old.id},
    )
    return (
        f"{ref}: the old access key {old.id} of {rot.iam_user} is now deactivated. It is deleted in "
        f"{format_duration(keep) if keep else 'a moment'}; until then Reactivate old key rolls back."
    )


def _finish_gone(rotation_id: int, from_status: str, ref: str) -> str | None:
    rt = runtime.current()
    now = rt.clock.now()
    with rt.db.session() as session:
        rot = session.get(KeyRotation, rotation_id)
        if rot is None or rot.status != from_status:
            return None
        rot.status, rot.finished_at = "done", now
        session.add(rot)
        _finish_request(session, rot.request_id, "done", now)
        audit.append(
            session,
            actor="engops-bot",
            action="aws_keys.rotation_done",
            subject=rot.iam_user,
            request_id=rot.request_id,
            detail={"old_key_id": rot.old_key_id, "note": "already gone"},
        )
    return f"{ref}: the old access key {rot.old_key_id} of {rot.iam_user} no longer exists; the rotation is complete."


@step("workflows.key_rotation._delete_old")
def _delete_old(rotation_id: int) -> str | None:
    rt = runtime.current()
    now = rt.clock.now()
    with rt.db.session() as session:
        rot = session.get(KeyRotation, rotation_id)
        if rot is None or rot.status != "deleting" or rot.old_key_id is None:
            return None
        ref = _request(session, rot.request_id).ref
    FAILPOINTS.hit("before_delete")
    try:
        rt.require_aws().delete_key(rot.iam_user, rot.old_key_id)  # already gone counts as deleted
    except ProviderError as exc:
        _give_back(rotation_id, rot, exc, claimed="deleting", due="deactivated", action="aws_keys.delete_failed")
        return None
    FAILPOINTS.hit("after_delete")
    with rt.db.session() as session:
        moved = session.execute(
            update(KeyRotation)
            .where(col(KeyRotation.id) == rotation_id, col(KeyRotation.status) == "deleting")
            .values(status="done", finished_at=now)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            return None
        _finish_request(session, rot.request_id, "done", now)
        audit.append(
            session,
            actor="engops-bot",
            action="aws.key_deleted",
            subject=rot.iam_user,
            request_id=rot.request_id,
            detail={"key_id": rot.old_key_id},
        )
    return f"{ref}: the old access key {rot.old_key_id} of {rot.iam_user} was deleted. The rotation is complete."


def _announce(rotation_id: int, text: str) -> None:
    """From a workflow body: update the notices and cards, tell the people concerned."""
    request_id = _update_notices(rotation_id)
    refresh_cards(request_id)
    _tell(request_id, text)


@durable("deactivate_old_key")
def deactivate_old_key(rotation_id: int) -> None:
    text = _deactivate_or_postpone(rotation_id)
    if text:
        _announce(rotation_id, text)


@durable("delete_old_key")
def delete_old_key(rotation_id: int) -> None:
    text = _delete_old(rotation_id)
    if text:
        _announce(rotation_id, text)


# --- Reactivate old key (rollback) ----------------------------------------------------------------------------------
def reactivate(
    db: Database, dispatcher: Dispatcher, request_id: int, clicker: str, click_id: str, now: datetime
) -> Outcome:
    """Handler side (database only): the person, the service user's owners or an IT admin roll back."""
    with db.session() as session:
        req = session.get(Request, request_id)
        rot = _rotation_of(session, request_id)
        if req is None or rot is None or rot.id is None:
            return Outcome(False, f"REQ-{request_id} is not a key rotation with a new key.")
        actor = queries.actor_of(session, clicker, runtime.current().policy)
        email = actor.email or ""
        verdict = permissions.reactivate_old_key(actor, _rotation_facts(session, req, rot))
        if not verdict.ok:
            return Outcome(False, verdict.message)
        moved = session.execute(
            update(KeyRotation)
            .where(col(KeyRotation.id) == rot.id, col(KeyRotation.status) == rot.status)
            .values(status="reactivating", rolled_back_by=email or clicker)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
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
        owners=tuple(str(o).lower() for o in req.details.get("owners", [])),
        status=rot.status,
        old_key_id=rot.old_key_id,
        rolled_back_by=rot.rolled_back_by,
        person_offboarding=None if rot.service_user else queries.offboarding_state_of(session, req.requester_email),
    )


@step("workflows.key_rotation._reactivate", retries_allowed=True, max_attempts=5, interval_seconds=2.0)
def _reactivate(rotation_id: int) -> str | None:
    rt = runtime.current()
    now = rt.clock.now()
    with rt.db.session() as session:
        rot = session.get(KeyRotation, rotation_id)
        if rot is None or rot.status != "reactivating" or rot.old_key_id is None:
            return None
        req = _request(session, rot.request_id)
        ref = req.ref
        facts = _rotation_facts(session, req, rot)
    if facts.person_offboarding is not None:  # offboarded since the click: their rotations stop
        return _stop_rollback(rotation_id, rot, f"{ref}: {req.requester_email} is being offboarded")
    aws = rt.require_aws()
    try:
        old = _find(aws.list_keys(rot.iam_user), rot.old_key_id)
        if old is None:
            return _finish_gone(rotation_id, "reactivating", ref)
        if not permissions.may_reactivate_key(rot.deactivated_at is not None, old.status):
            return _stop_rollback(
                rotation_id, rot, f"{ref}: the old key {old.id} was deactivated outside this rotation"
            )
        aws.set_key_status(rot.iam_user, rot.old_key_id, active=True)
    except NotFoundError:
        return _finish_gone(rotation_id, "reactivating", ref)
    who = rot.rolled_back_by or "someone"
    with rt.db.session() as session:
        moved = session.execute(
            update(KeyRotation)
            .where(col(KeyRotation.id) == rotation_id, col(KeyRotation.status) == "reactivating")
            .values(status="rolled_back", finished_at=now)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            return None
        _finish_request(session, rot.request_id, "cancelled", now, by=who)
        audit.append(
            session,
            actor=who,
            action="aws.key_reactivated",
            subject=rot.iam_user,
            request_id=rot.request_id,
            detail={"key_id": rot.old_key_id, "new_key_id": rot.new_key_id},
        )
    return (
        f"{ref}: rolled back by {who}. The old access key {rot.old_key_id} of {rot.iam_user} is active again, "
        f"both keys stay, and the rest of the rotation is cancelled (the new key stays in {rot.secret_name})."
    )


def _stop_rollback(rotation_id: int, rot: KeyRotation, why: str) -> str | None:
    """The rollback is refused at run time: the key stays as it is and the rotation carries on where it was."""
    back = "deactivated" if rot.deactivated_at is not None else "grace"
    if not _move(rotation_id, "reactivating", status=back, rolled_back_by=None):
        return None
    audit.record(
        runtime.current().db,
        actor="engops-bot",
        action="aws_keys.rollback_refused",
        subject=rot.iam_user,
        request_id=rot.request_id,
        detail={"old_key_id": rot.old_key_id, "why": why},
    )
    return (
        f"{why}; the old key was not reactivated (SPEC: Reactivate only re-activates the key its rotation turned off)."
    )


@durable("reactivate_old_key")
def reactivate_old_key(rotation_id: int) -> None:
    text = _reactivate(rotation_id)
    if text:
        _announce(rotation_id, text)
