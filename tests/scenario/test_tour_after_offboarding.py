"""The README's sandbox tour in the order a new user takes it (1 → 2 → 5): once alice is offboarded, nothing the
bot gave her survives and nothing gives her access back (SPEC §6.2, §6.3; issue #13, finding 3)."""

from __future__ import annotations

from engops.sandbox.aws import sandbox_client
from engops.sandbox.stack import Stack
from tests.support.aws_keys import key_statuses
from tests.support.slack import last_ephemeral
from tests.support.slack_actions import mention, offboard, request_access


def test_after_offboarding_alice_keeps_no_grant_and_cannot_get_aws_keys_back(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None and stack.moto is not None
    # 1. access with approvals: her manager, then the group's owner
    request_access(stack, "alice", "aws-sandbox-admins", "4h", "Debugging the staging incident")
    driver.click("mona", "Approve")
    stack.wait_idle()
    driver.click("erin", "Approve")
    stack.wait_idle()
    assert "alice@example.com" in stack.okta.members("aws-sandbox-admins")

    # 2. offboarding, approved by a second person
    offboard(stack, "hank", mention(stack, "alice"))
    driver.click("grace", "Approve")
    stack.wait_idle()
    assert stack.okta.user_status("alice@example.com") == "SUSPENDED"
    assert key_statuses(stack, "alice") == ["Inactive"]
    assert "alice@example.com" not in stack.okta.members("aws-sandbox-admins"), "her bot-made grant survived"

    # 5. key rotation: refused, and no key is made
    driver.command("alice", "/rotate-keys", "")
    stack.wait_idle()
    view = driver.current_view("alice")
    said = (str(view.blocks) if view is not None else "") + last_ephemeral(stack, "alice")
    assert "offboard" in said.lower(), said
    if view is not None:
        assert not view.body.get("submit"), "the preview offers to rotate an offboarded person's keys"
    iam = sandbox_client("iam", stack.moto.url)
    keys = iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]
    assert [k["Status"] for k in keys] == ["Inactive"]

    # and a new access request is refused too, saying why
    driver.command("alice", "/access", "zoom-users 1h Customer calls")
    stack.wait_idle()
    if driver.current_view("alice") is not None:
        driver.submit_view("alice", {})
        stack.wait_idle()
    assert "offboard" in last_ephemeral(stack, "alice").lower() + str(driver.current_view("alice") or "").lower()
    assert "alice@example.com" not in stack.okta.members("zoom-users")
