"""Keys an interrupted attempt may have left behind: which are the bot's, and what becomes of them.

AWS shows a key's secret only in the answer to CreateAccessKey. When that answer is lost (a read timeout, a
dropped connection, a crash before the key was recorded) the key may exist with nobody holding its secret. Such a
key is the bot's to remove only if it provably is the bot's: its id was recorded, or AWS made it while a create
call of this rotation was unanswered. Any other key is a person's (made by hand meanwhile, say): never touched,
the step stops and says so."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import col

from bot import audit
from bot.db.models_keys import KeyRotation
from bot.db.types import utcnow
from bot.providers.aws import AccessKey, KeyCreationUnknown, NewKeySecret
from workflows.engine import runtime
from workflows.keys.state import audit_rotation, rotation_of

log = logging.getLogger(__name__)

CREATE_ATTEMPTS = 3  # CreateAccessKey answers lost in a row before the step gives up (after settling)
# How far AWS's CreateDate of a key made by an unanswered call may be from when the call was sent: the call's own
# time (its timeout, 30 s) and the two clocks' difference.
CREATE_WINDOW = timedelta(minutes=5)
_TOKEN_NAMESPACE = uuid.UUID("6f1c2a8e-4b1d-5e0a-9a57-3c0f5d8b2e11")  # stored: versions made before keep it


class ForeignKeyError(Exception):
    """The IAM user has a key neither the rotation's old key nor made by the bot."""

    def __init__(self, iam_user: str, key: AccessKey) -> None:
        super().__init__(
            f"{iam_user} has a key the bot did not make ({key.id}, created {key.created:%Y-%m-%d %H:%M} UTC); "
            "it was left alone. Ask whoever made it to remove it (or remove it yourself), then Retry."
        )


def secret_token(request_id: int, key_id: str) -> str:
    """Secrets Manager's ClientRequestToken (= the version id): one per request and key, so a retried store
    of the same key makes no second version, and its presence tells that the key's secret was stored."""
    return str(uuid.uuid5(_TOKEN_NAMESPACE, f"REQ-{request_id}/{key_id}"))


def settle_leftovers(request_id: int) -> dict[str, str] | None:
    """Reuse the key whose secret was stored; deactivate and delete a key of the bot's whose secret was not
    (deactivated first, so a failed delete still leaves it unusable until the next settling deletes it). Raises
    ForeignKeyError for a key that is not provably the bot's."""
    rt = runtime.current()
    with rt.db.session() as session:
        rot = rotation_of(session, request_id)
        assert rot is not None
    aws = rt.require_aws()
    for key in aws.list_keys(rot.iam_user, with_last_use=False):
        if key.id == rot.old_key_id:
            continue
        arn = aws.secret_version_arn(rot.secret_name, secret_token(request_id, key.id))
        if arn is not None:
            return {"key_id": key.id, "arn": arn, "created": key.created.isoformat()}
        if not _made_by_the_bot(rot, key):
            raise ForeignKeyError(rot.iam_user, key)
        if key.status == "Active":
            aws.set_key_status(rot.iam_user, key.id, False)
        aws.delete_key(rot.iam_user, key.id)
        audit_rotation(
            rot, "aws.key_deleted", {"key_id": key.id, "why": "made by an attempt that never stored its secret"}
        )
    return None


def _made_by_the_bot(rot: KeyRotation, key: AccessKey) -> bool:
    if key.id == rot.new_key_id:
        return True
    started = rot.create_started_at
    return started is not None and started - CREATE_WINDOW <= key.created <= started + CREATE_WINDOW


def create_key(request_id: int, rot: KeyRotation) -> tuple[AccessKey, NewKeySecret]:
    """CreateAccessKey, never retried blindly: the time of each call is stored before it is sent, so a key its
    lost answer leaves behind is known for the bot's; then settle (that key is deleted) and ask again. Raises
    KeyCreationUnknown after CREATE_ATTEMPTS, with nothing left behind."""
    aws = runtime.current().require_aws()
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        _mark_create_started(rot)
        try:
            return aws.create_key(rot.iam_user)
        except KeyCreationUnknown:
            log.warning("REQ-%s: CreateAccessKey's answer was lost (attempt %s); settling", request_id, attempt)
            settle_leftovers(request_id)
            if attempt == CREATE_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _mark_create_started(rot: KeyRotation) -> None:
    with runtime.current().db.session() as session:
        session.execute(update(KeyRotation).where(col(KeyRotation.id) == rot.id).values(create_started_at=utcnow()))


def record_new_key(rot: KeyRotation, key_id: str) -> None:
    """Right after creation, so the key is accounted for even if the secret never gets stored; the call that made
    it is answered (a key made later is not the bot's)."""
    with runtime.current().db.session() as session:
        session.execute(
            update(KeyRotation).where(col(KeyRotation.id) == rot.id).values(new_key_id=key_id, create_started_at=None)
        )
        audit.append(
            session,
            actor="engops-bot",
            action="aws.key_created",
            subject=rot.iam_user,
            request_id=rot.request_id,
            detail={"key_id": key_id},
        )
