"""What may be rotated (SPEC §6.2, §6.3), shared by the preview, the plan, the protocol and the scan.

The IAM key rules are pure; `rotation_in_progress` and `cut_off` read the state they judge (the database,
Okta) and nothing else."""

from __future__ import annotations

from sqlmodel import Session, col, select

from bot import permissions
from bot.db import queries
from bot.db.details import details_of
from bot.db.models import Request, RequestStatus
from bot.db.models_keys import KeyRotation
from bot.providers.aws import AccessKey
from workflows.engine import runtime
from workflows.keys.details import KIND, KeyRotationDetails

IN_PROGRESS = ("preparing", "grace", "deactivating", "deactivated", "deleting", "reactivating")
_OPEN_REQUEST = (RequestStatus.SUBMITTED, RequestStatus.PENDING, RequestStatus.APPROVED, RequestStatus.RUNNING)


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


def find_key(keys: list[AccessKey], key_id: str | None) -> AccessKey | None:
    return next((k for k in keys if k.id == key_id), None)


def still_used(old: AccessKey, rot: KeyRotation) -> bool:
    """Used after the new key was created, or, after a postponement, used again since that check."""
    marks = [t for t in (rot.new_key_created_at, rot.postponed_at) if t is not None]
    return old.last_used is not None and bool(marks) and old.last_used > max(marks)


def rotation_in_progress(session: Session, iam_user: str, before: int | None = None) -> str | None:
    """The ref of an open rotation of this IAM user (with `before`, only an earlier one: the first asked wins)."""
    query = select(Request).where(Request.kind == KIND).where(col(Request.status).in_(_OPEN_REQUEST))
    if before is not None:
        query = query.where(col(Request.id) < before)
    for req in session.exec(query.order_by(col(Request.id))):
        if details_of(req, KeyRotationDetails).iam_user == iam_user:
            return req.ref
    return None


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


def secret_name_for(iam_user: str) -> str:
    return runtime.current().policy.aws_keys.secret_name.format(user=iam_user)
