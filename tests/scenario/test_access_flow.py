"""Access requests end to end: signed Slack requests in, effects read back from the stand-ins."""

from __future__ import annotations

from engops.sandbox.stack import Stack
from tests.support.slack import last_ephemeral
from tests.support.slack_actions import request_access


def test_happy_path_two_steps_manager_then_owners(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    request_access(stack, "alice", "aws-sandbox-admins", "4h", "Debugging the staging incident")
    view = driver.current_view("alice")
    assert view is not None and "REQ-1" in str(view.blocks)
    # the manager (mona, from the Okta profile) gets the card first; the owner (erin) not yet
    assert "Approve" in driver.labels(driver.latest("mona"))
    assert driver.latest("erin") is None
    assert "Okta: add alice@example.com to aws-sandbox-admins" in driver.dm_text("mona")
    driver.click("mona", "Approve")
    stack.wait_idle()
    assert "alice@example.com" not in stack.okta.members("aws-sandbox-admins")
    assert "Approve" not in driver.labels(driver.latest("mona"))  # mona's copy updated in place
    driver.click("erin", "Approve")
    stack.wait_idle()
    assert "alice@example.com" in stack.okta.members("aws-sandbox-admins")
    dms = driver.dm_text("alice")
    assert "approved by mona@example.com" in dms and "Done: alice@example.com is now in aws-sandbox-admins" in dms
    # every copy shows the same final state
    for who in ("alice", "mona", "erin"):
        assert "Done" in driver.dm_text(who)


def test_auto_approve_group_needs_no_click(stack: Stack) -> None:
    request_access(stack, "bob", "zoom-users", None, "Customer calls")
    assert "bob@example.com" in stack.okta.members("zoom-users")


def test_self_approval_refused_even_for_owner(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    # oscar owns netsuite-finance; its only step is owners, so it-admins decide instead of him
    request_access(stack, "oscar", "netsuite-finance", None, "Quarter close")
    assert driver.latest("grace") is not None  # it-admin got the card
    card = driver.latest("oscar")
    assert card is not None and "Approve" not in driver.labels(card)


def test_non_approver_click_changes_nothing(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    request_access(stack, "alice", "aws-sandbox-admins", "2h", "Incident", channel="#it-engops")
    driver.click("dave", "Approve", channel="#it-engops")
    stack.wait_idle()
    assert "not an approver" in last_ephemeral(stack, "dave")
    assert "alice@example.com" not in stack.okta.members("aws-sandbox-admins")


def test_requester_cannot_approve_from_channel(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    request_access(stack, "alice", "aws-sandbox-admins", "2h", "Incident", channel="#it-engops")
    driver.click("alice", "Approve", channel="#it-engops")
    stack.wait_idle()
    assert "your own request" in last_ephemeral(stack, "alice")
