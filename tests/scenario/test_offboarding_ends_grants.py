"""Offboarding ends what the bot gave the person (SPEC §6.3, issue #13 finding 3) and revokes their Google tokens.

alice holds an approved bot-made grant, has a request still waiting for her manager and a key rotation in its
grace period; she is offboarded with the example policy. Everything is driven as Slack does and read back from
the stand-ins and the database.
"""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from bot import audit
from bot.db.engine import Database
from bot.db.models import AuditEntry, Grant, Request
from bot.db.models_keys import KeyRotation
from engops.sandbox.base import Fault
from engops.sandbox.stack import Stack
from tests.support.aws_keys import keys_of
from tests.support.slack import last_ephemeral, progress_message, progress_text
from tests.support.slack_actions import offboard, request_access, rotate
from tests.support.stacks import sweep_after
from workflows.offboarding import transfer as offboarding_transfer

ALICE = "alice@example.com"


def _db(stack: Stack) -> Database:
    assert stack.web is not None
    db: Database = stack.web.services.db
    return db


def _request(stack: Stack, request_id: int) -> Request:
    with _db(stack).session() as session:
        req = session.get(Request, request_id)
        assert req is not None
        return req


def _audit(stack: Stack, action: str) -> list[AuditEntry]:
    audit.seal(_db(stack), wait=True)
    with _db(stack).session() as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.action == action).order_by(col(AuditEntry.seq))))


def _alice_with_grant_request_and_rotation(stack: Stack) -> tuple[int, int, int, str]:
    """REQ ids of her active grant, her pending request and her key rotation in grace; her old key id."""
    driver = stack.driver
    assert driver is not None
    request_access(stack, "alice", "netsuite-finance", None, "Quarter close")  # owners: oscar
    driver.click("oscar", "Approve")
    stack.wait_idle()
    assert ALICE in stack.okta.members("netsuite-finance")
    request_access(stack, "alice", "aws-sandbox-admins", "4h", "Staging incident")  # waits for mona
    mona_card = driver.latest("mona")
    assert mona_card is not None and "Approve" in driver.labels(mona_card)
    (old_key,) = keys_of(stack, "alice")
    rotate(stack, "alice")
    with _db(stack).session() as session:
        grant = session.exec(select(Grant).where(Grant.user_email == ALICE)).one()
        rot = session.exec(select(KeyRotation)).one()
        assert (grant.status, rot.status) == ("active", "grace")
        pending = session.exec(select(Request).where(Request.kind == "access", Request.status == "pending")).one()
        assert pending.id is not None
        return grant.request_id, pending.id, rot.request_id, old_key


def _offboard_alice(stack: Stack) -> int:
    assert stack.driver is not None
    shown = offboard(stack, "hank", "alice@example.com")
    ends = "EngOps: remove Okta grant(s) netsuite-finance; cancel open request(s) REQ-2; stop key rotation(s) REQ-3"
    assert ends in shown
    assert "Google: revoke 2 OAuth tokens (Slack, Zoom) and 1 app password (Thunderbird) of alice@example.com" in shown
    assert "Google: transfer Drive and Calendar of alice@example.com to mona@example.com" in shown  # her manager
    stack.driver.click("grace", "Approve")
    stack.wait_idle()
    return 4


def test_offboarding_ends_grants_requests_rotations_and_google_tokens(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = stack.driver
    assert driver is not None
    # Google reports the transfer in progress at the first two checks: the workflow sleeps (durably) between them
    stack.google.transfer_checks_to_finish = 3
    monkeypatch.setattr(offboarding_transfer, "CHECK_EVERY", 0.05)
    grant_req, pending_req, rotation_req, old_key = _alice_with_grant_request_and_rotation(stack)
    mona_card = driver.latest("mona")
    assert mona_card is not None
    offboarding = _offboard_alice(stack)

    # the bot-made grant: out of the Okta group, ended and audited with the offboarding as reason
    assert ALICE not in stack.okta.members("netsuite-finance")
    with _db(stack).session() as session:
        grant = session.exec(select(Grant).where(Grant.user_email == ALICE)).one()
        assert (grant.status, grant.ended_by, grant.end_reason) == (
            "ended",
            "engops-bot",
            f"offboarding REQ-{offboarding}",
        )
    revoked = [e for e in _audit(stack, "access.revoked") if e.request_id == grant_req]
    assert [(e.actor, e.detail["reason"]) for e in revoked] == [("engops-bot", f"offboarding REQ-{offboarding}")]
    assert _request(stack, grant_req).status == "revoked"

    # the open request: cancelled ("offboarded"), version bumped, the approver's card updated in place
    req = _request(stack, pending_req)
    assert (req.status, req.deny_reason) == ("cancelled", "offboarded")
    updated = next(m for m in stack.slack.dm(stack.slack.user("mona").id) if m.ts == mona_card.ts)
    assert "Approve" not in driver.labels(updated) and "Cancelled" in str(updated.blocks)

    # the key rotation stops: no reactivation, the old key stays inactive, no new key later
    with _db(stack).session() as session:
        assert session.exec(select(KeyRotation)).one().status == "stopped"
    assert _request(stack, rotation_req).status == "cancelled"
    notice = next(m for m in stack.slack.dm(stack.slack.user("alice").id) if "Reactivate old key" in driver.labels(m))
    driver.click("alice", "Reactivate old key", message=notice)
    stack.wait_idle()
    assert "offboarded" in last_ephemeral(stack, "alice")
    keys = keys_of(stack, "alice")
    assert keys[old_key] == "Inactive" and set(keys.values()) == {"Inactive"}
    sweep_after(stack, days=8)  # past deactivate_after and delete_after: the stopped rotation does nothing
    assert keys_of(stack, "alice") == keys

    # Google: tokens and app passwords gone
    assert stack.google.tokens(ALICE) == [] and stack.google.app_passwords(ALICE) == []

    # Drive and Calendar: one transfer, by user ids, to her manager, followed until Google said completed
    (transfer,) = stack.google.transfers(ALICE)
    mona = stack.google.user("mona@example.com")
    assert mona is not None and transfer["newOwnerUserId"] == mona["id"]
    assert transfer["overallTransferStatusCode"] == "completed"
    assert {a["applicationId"] for a in transfer["applicationDataTransfers"]} == {"55656082996", "435070579839"}
    assert len([c for c in stack.google.calls if c.method == "GET" and "/datatransfer/v1/transfers/" in c.path]) == 3

    # the progress message shows each step's outcome
    text = progress_text(stack)
    assert "EngOps: end grants" in text and "removed Okta grant(s) REQ-1 (netsuite-finance)" in text
    assert "Google: revoke tokens" in text and "revoked 2 OAuth tokens (Slack, Zoom)" in text
    assert "Google: transfer Drive/Calendar — Drive and Calendar transferred to mona@example.com" in text
    assert "Done" in text and "Retry failed steps" not in driver.labels(progress_message(stack))


def test_retry_runs_the_steps_again_and_changes_nothing_more(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    grant_req, pending_req, _, _ = _alice_with_grant_request_and_rotation(stack)
    # both steps fail half-way: after the database work, at the provider calls
    stack.okta.inject(Fault(status=400, path_prefix="/api/v1/groups/", method="DELETE", remaining=None))
    stack.google.inject(Fault(status=400, path_prefix="/admin/directory/v1/users/", method="DELETE", remaining=None))
    _offboard_alice(stack)
    text = progress_text(stack)
    assert ALICE in stack.okta.members("netsuite-finance") and len(stack.google.tokens(ALICE)) == 2
    assert "EngOps: end grants" in text and "Google: revoke tokens" in text
    first = {
        "cancelled": len(_audit(stack, "request.cancelled")),
        "stopped": len(_audit(stack, "aws_keys.rotation_stopped")),
        "pending version": _request(stack, pending_req).version,
    }
    assert first == {"cancelled": 1, "stopped": 1, "pending version": first["pending version"]}

    stack.okta.clear_faults()
    stack.google.clear_faults()
    driver.click("hank", "Retry failed steps", channel="#it-engops")
    stack.wait_idle()
    assert ALICE not in stack.okta.members("netsuite-finance")
    assert stack.google.tokens(ALICE) == [] and stack.google.app_passwords(ALICE) == []
    second = {
        "cancelled": len(_audit(stack, "request.cancelled")),
        "stopped": len(_audit(stack, "aws_keys.rotation_stopped")),
        "pending version": _request(stack, pending_req).version,
    }
    assert second == first  # the second run found nothing more to cancel or stop
    assert _request(stack, grant_req).status == "revoked"
    assert len(_audit(stack, "access.revoked")) == 1
