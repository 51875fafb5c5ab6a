"""What the people concerned are told about a rotation: the notice DM saying where the new key is (with
**Reactivate old key**), kept up to date in place, and a DM at each later turn (postponed, deactivated,
deleted, rolled back)."""

from __future__ import annotations

from bot.db.details import details_of
from bot.db.models import Request
from bot.db.models_keys import KeyRotation
from bot.slack import key_views
from bot.slack.escape import escape
from workflows.engine import people, runtime
from workflows.engine.approvals import refresh_cards
from workflows.engine.durable import step
from workflows.keys.details import KeyRotationDetails
from workflows.keys.failpoints import FAILPOINTS
from workflows.keys.state import request_of, rotation_of


def _recipients(req: Request) -> list[str]:
    """Slack ids told about the rotation: the requester, and a service user's owners."""
    found = [req.requester_slack_id]
    details = details_of(req, KeyRotationDetails)
    if details.service_user:
        found += [people.slack_id_of(o) or "" for o in details.owners]
    return [s for s in dict.fromkeys(found) if s]


@step("workflows.key_rotation._send_notices", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def send_notices(request_id: int) -> None:
    """The DM saying where the new key is (with Reactivate old key), once per recipient."""
    FAILPOINTS.hit("before_notices")
    rt = runtime.current()
    with rt.db.session() as session:
        req = request_of(session, request_id)
        rot = rotation_of(session, request_id)
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
        ref = request_of(session, rot.request_id).ref
    blocks = key_views.notice_blocks(ref, rot, rt.policy.aws_keys)
    for notice in rot.notices:
        rt.slack.update(str(notice["channel"]), str(notice["ts"]), key_views.notice_text(ref, rot), blocks)
    return rot.request_id


@step("workflows.key_rotation._tell", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _tell(request_id: int, text: str) -> None:
    rt = runtime.current()
    with rt.db.session() as session:
        req = request_of(session, request_id)
    for slack_id in _recipients(req):
        rt.slack.dm(slack_id, escape(text))


def announce(rotation_id: int, text: str) -> None:
    """From a workflow body: update the notices and cards, tell the people concerned."""
    request_id = _update_notices(rotation_id)
    refresh_cards(request_id)
    _tell(request_id, text)
