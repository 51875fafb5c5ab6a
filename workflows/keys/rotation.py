"""AWS access key rotation (SPEC §6.3): the request kind and the rotation protocol.

Protocol, one durable step each: prepare (record the key being retired) → create the new key *and* put it in
Secrets Manager (one step: the secret half never leaves it; DBOS stores step outputs, so the step returns
only the key id and the secret's ARN) → start the grace period → DM where the key is (`notices`). Then the
sweep retires the old key (`retire`), and **Reactivate old key** rolls back during the grace period
(`rollback`).

Crash safety: a crash inside the create-and-store step re-runs it. It first settles what an interrupted
attempt left: a key other than the old one whose secret version (the client request token derived from
the request and that key) exists is reused; any other such key is useless without its secret and is
deleted. So a retry never leaves an orphan key, never hits the two-key limit, and never makes a second
secret version.

A CreateAccessKey whose answer is lost (read timeout, 5xx) is settled the same way before it is asked again: the key
it may have made cannot be adopted, because AWS returns a key's secret only in that one answer, so it is
deactivated and deleted, and a new one is made (`workflows.keys.settle`).
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot import audit, permissions
from bot.db.details import details_of, store_details
from bot.db.models import Request, RequestStatus
from bot.db.models_keys import KeyRotation
from bot.durations import format_duration
from bot.policy import Policy
from bot.providers.aws import KeyLimitError
from bot.providers.errors import NotFoundError, ProviderError
from workflows.engine import identity, runtime
from workflows.engine.approvals import NewRequest, notify_requester, refresh_cards
from workflows.engine.durable import durable, step
from workflows.engine.kinds import PlanError, register_kind
from workflows.keys.details import KIND, KeyRotationDetails

# Release 2 pickled what steps raised under this module's old name (`workflows.key_rotation`), so the class stays here.
from workflows.keys.failpoints import FAILPOINTS, SimulatedCrash  # noqa: F401
from workflows.keys.notices import send_notices
from workflows.keys.rules import cut_off, rotation_in_progress, secret_name_for, two_key_refusal
from workflows.keys.settle import ForeignKeyError, create_key, record_new_key, secret_token, settle_leftovers
from workflows.keys.state import request_of, rotation_of

log = logging.getLogger(__name__)


# --- the request kind -------------------------------------------------------------------------------------------------
class KeyRotationKind:
    name = KIND
    details_model = KeyRotationDetails

    def plan(self, req: Request) -> list[str]:
        rt = runtime.current()
        rules = rt.policy.aws_keys
        details = details_of(req, KeyRotationDetails)
        iam_user = details.iam_user
        aws = rt.require_aws()
        refused = cut_off(req.requester_slack_id, req.requester_email)
        if refused:
            raise PlanError(refused.rstrip("."))
        service = iam_user in rules.service_users
        if service and (not details.service_user or "owners" not in details.step_specs):
            raise PlanError(f"{iam_user} is a service user (aws_keys.service_users): one of its owners must approve.")
        if not service:
            if details.service_user:
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

    def card_fields(self, req: Request) -> list[tuple[str, str]]:
        return []


register_kind(KeyRotationKind())


def new_rotation_request(
    policy: Policy, iam_user: str, reason: str, *, requester_slack_id: str, requester_email: str, channel_id: str | None
) -> NewRequest:
    """The rotation of `iam_user`'s keys. Whether it is a service user's is decided by the name, never by what the
    preview said: one of its owners must approve (SPEC §6.3). Your own keys need no approval, but the audit
    records the auto-approval."""
    service = policy.aws_keys.service_users.get(iam_user)
    return NewRequest(
        kind=KIND,
        requester_slack_id=requester_slack_id,
        requester_email=requester_email,
        summary=f"Rotate the AWS access keys of {'IAM user' if service is None else 'service user'} {iam_user}",
        reason=reason or "Routine rotation",
        step_specs=permissions.rotation_steps(iam_user, policy.aws_keys.service_users),
        details=KeyRotationDetails(
            iam_user=iam_user,
            service_user=service is not None,
            owners=[] if service is None else [o.lower() for o in service.owners],
        ),
        channel_id=channel_id,
        auto_approve=service is None,
    )


# --- the protocol ---------------------------------------------------------------------------------------------------
@step("workflows.key_rotation._prepare")
def _prepare(request_id: int) -> str | None:
    """Record the rotation and the key it retires (once per request); returns why it cannot start."""
    rt = runtime.current()
    with rt.db.session() as session:
        req = request_of(session, request_id)
        existing = rotation_of(session, request_id)
        if existing is not None:
            if existing.status == "failed":  # Retry failed steps
                existing.status = "preparing"
                session.add(existing)
            return None
        details = details_of(req, KeyRotationDetails)
        iam_user, service = details.iam_user, details.service_user
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


@step("workflows.key_rotation._create_and_store")
def _create_and_store(request_id: int) -> dict[str, str] | str:
    """Create the new key and put it straight into Secrets Manager. Returns the key id, the secret's ARN and
    the key's creation time (never the secret), or why it failed."""
    rt = runtime.current()
    FAILPOINTS.hit("before_create")
    with rt.db.session() as session:
        rot = rotation_of(session, request_id)
        assert rot is not None and rot.id is not None
    if rot.status == "stopped":  # the person was offboarded meanwhile: no new key, ever
        return "stopped: the person was offboarded; no new key was made."
    aws = rt.require_aws()
    try:
        reused = settle_leftovers(request_id)
        if reused is not None:
            return reused
        key, secret = create_key(request_id, rot)
    except ForeignKeyError as exc:
        return str(exc)
    except KeyLimitError:
        return f"{rot.iam_user} already has two access keys; no new key was made."
    except ProviderError as exc:
        return f"AWS: {exc.message}"
    record_new_key(rot, key.id)
    FAILPOINTS.hit("after_create_key")
    try:
        arn = aws.put_secret(rot.secret_name, secret.as_secret_value(), secret_token(request_id, key.id))
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
        rot = rotation_of(session, request_id)
        req = request_of(session, request_id)
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
            req.status = RequestStatus.DONE
        details = details_of(req, KeyRotationDetails)
        details.new_key_id, details.secret_name = rot.new_key_id, rot.secret_name
        store_details(req, details)
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


@step("workflows.key_rotation._mark_rotation_failed")
def _mark_rotation_failed(request_id: int, error: str) -> None:
    rt = runtime.current()
    with rt.db.session() as session:
        req = request_of(session, request_id)
        rot = rotation_of(session, request_id)
        req.status, req.error, req.version = RequestStatus.FAILED, error, req.version + 1
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
            subject=details_of(req, KeyRotationDetails).iam_user,
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
    send_notices(request_id)
    refresh_cards(request_id)
