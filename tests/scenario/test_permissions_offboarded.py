"""SPEC §6.2, §6.3: a person who is suspended, or has an offboarding pending or done, gets no access back: no
`/access`, no `/rotate-keys`, no **Reactivate old key**; and Reactivate only turns back on the key its own
rotation turned off."""

from __future__ import annotations

from sqlmodel import select

from bot.db.models_keys import KeyRotation
from engops.sandbox.slack import message_as_text
from engops.sandbox.stack import Stack
from tests.support.authorisation import mark, told_since
from tests.support.aws_keys import iam, keys_of
from tests.support.effects import request_status
from tests.support.slack import last_ephemeral, reply_to
from tests.support.slack_actions import offboard, open_preview, rotate
from tests.support.slack_output import find_card


def rotation_status(stack: Stack, request_id: int) -> str:
    assert stack.web is not None
    with stack.web.services.db.session() as session:
        rot = session.exec(select(KeyRotation).where(KeyRotation.request_id == request_id)).one()
        return rot.status


def shown(stack: Stack, user: str, command: str) -> str:
    """Run a command; what the person sees: the ephemeral answer, else the modal it opened."""
    assert stack.driver is not None
    before = len(stack.driver.ephemerals(user))
    stack.driver.command(user, command, "")
    stack.wait_idle()
    if len(stack.driver.ephemerals(user)) > before:
        return last_ephemeral(stack, user)
    view = stack.driver.current_view(user)
    assert view is not None, f"{command} showed nothing"
    return message_as_text("", view.blocks)


def offboard_alice(stack: Stack, ref: int) -> None:
    """hank offboards alice (REQ-<ref>), heidi approves; the run ends."""
    assert stack.driver is not None
    offboard(stack, "hank", "alice@example.com")
    stack.wait_idle()
    card = find_card(stack, "heidi", ref, "Approve")
    assert card is not None
    stack.driver.click("heidi", "Approve", message=card)
    stack.wait_idle()
    assert request_status(stack, ref) in ("done", "partly_failed")


def test_after_her_offboarding_alice_cannot_rotate_keys_nor_request_access(stack: Stack) -> None:
    offboard_alice(stack, 1)
    assert keys_of(stack, "alice") and set(keys_of(stack, "alice").values()) == {"Inactive"}
    before = keys_of(stack, "alice")

    said = shown(stack, "alice", "/rotate-keys")  # told at once, or in the preview when her email is not cached
    assert "offboarded" in said and "cannot rotate AWS keys" in said
    assert keys_of(stack, "alice") == before
    if stack.driver.current_view("alice") is not None:
        stack.driver.close_view("alice")

    said = reply_to(stack, "alice", "/rotate-keys")  # her email is known now: refused in the ack
    assert "offboarded" in said and "cannot rotate AWS keys" in said
    said = reply_to(stack, "alice", "/access", "zoom-users")
    assert "offboarded" in said and "cannot request access" in said
    assert "alice@example.com" not in stack.okta.members("zoom-users")


def test_reactivate_after_the_offboarding_is_refused_and_the_key_stays_off(stack: Stack) -> None:
    assert stack.driver is not None
    (old,) = keys_of(stack, "alice")
    rotate(stack, "alice")  # REQ-1, in its grace period: the old key is still active
    assert request_status(stack, 1) == "running"
    offboard_alice(stack, 2)
    assert set(keys_of(stack, "alice").values()) == {"Inactive"}

    notice = find_card(stack, "alice", 1, "Reactivate old key")
    assert notice is not None
    stack.driver.click("alice", "Reactivate old key", message=notice)
    stack.wait_idle()
    assert "offboarded" in last_ephemeral(stack, "alice")
    since = mark(stack, "heidi")
    stack.driver.click("heidi", "Reactivate old key", message=notice)  # nor an IT admin: her rotations stop
    stack.wait_idle()
    assert "offboarded" in told_since(stack, "heidi", since)
    assert keys_of(stack, "alice")[old] == "Inactive"
    assert rotation_status(stack, 1) != "rolled_back"


def test_reactivate_leaves_alone_a_key_its_rotation_did_not_turn_off(stack: Stack) -> None:
    """The old key was switched off by someone else during the grace period: Reactivate must not turn it on."""
    assert stack.driver is not None
    (old,) = keys_of(stack, "alice")
    rotate(stack, "alice")
    iam(stack).update_access_key(UserName="alice", AccessKeyId=old, Status="Inactive")
    stack.driver.click("alice", "Reactivate old key", message=find_card(stack, "alice", 1, "Reactivate old key"))
    stack.wait_idle()
    assert keys_of(stack, "alice")[old] == "Inactive"
    assert "not reactivated" in stack.driver.dm_text("alice")
    assert rotation_status(stack, 1) == "grace" and request_status(stack, 1) == "running"  # it carries on


def test_a_suspended_person_cannot_rotate_keys(stack: Stack) -> None:
    """Suspension is known from Okta only: the plan refuses it, before any key is made."""
    assert stack.driver is not None
    before = keys_of(stack, "alice")
    assert "alice" in open_preview(stack, "alice")
    stack.okta.set_status("alice@example.com", "SUSPENDED")  # between the preview and the submit
    stack.driver.submit_view("alice", {})
    stack.wait_idle()
    assert request_status(stack, 1) == "failed"
    assert keys_of(stack, "alice") == before
    assert "suspended" in stack.driver.dm_text("alice")
    stack.driver.close_view("alice") if stack.driver.current_view("alice") else None
    assert "Your account is suspended, so you cannot rotate AWS keys" in open_preview(stack, "alice")
