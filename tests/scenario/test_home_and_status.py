"""What a requester and an approver see: /engops status, mine, approvals, and the App Home tab."""

from __future__ import annotations

from engops.sandbox.slack import blocks_as_text
from engops.sandbox.stack import Stack
from tests.support.slack import reply_to
from tests.support.slack_actions import request_access


def test_status_mine_and_approvals_follow_a_request(stack: Stack) -> None:
    request_access(stack, "alice", "aws-sandbox-admins", "4h", "Debugging")
    status = reply_to(stack, "alice", "/engops", "status REQ-1")
    assert "REQ-1" in status and "Waiting for approval" in status and "manager: waiting for mona@example.com" in status
    assert "REQ-1" in reply_to(stack, "mona", "/engops", "status req-1")  # an approver may look too
    assert "not one of yours" in reply_to(stack, "dave", "/engops", "status REQ-1")
    assert "REQ-1" in reply_to(stack, "alice", "/engops", "mine")
    waiting = reply_to(stack, "mona", "/engops", "approvals")
    assert "REQ-1" in waiting and "step: manager" in waiting
    assert reply_to(stack, "alice", "/engops", "approvals") == "Nothing waits on your approval."


def test_app_home_lists_waiting_approvals_and_its_buttons_work(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    request_access(stack, "alice", "netsuite-finance", None, "Quarter close")
    first = driver.open_home("oscar")
    assert first.status == 200
    driver.redeliver(first, retry_num=1)  # Slack's retry of the same event: one publish only
    stack.wait_idle()
    publishes = [c for c in stack.slack.calls if c.path == "/api/views.publish"]
    assert len(publishes) == 1
    home = stack.slack.home("oscar")
    assert home is not None and "REQ-1" in blocks_as_text(home.blocks)
    driver.click("oscar", "Approve", home=True)
    stack.wait_idle()
    assert "alice@example.com" in stack.okta.members("netsuite-finance")
    driver.open_home("alice")
    stack.wait_idle()
    home = stack.slack.home("alice")
    assert home is not None
    text = blocks_as_text(home.blocks)
    assert "netsuite-finance" in text and "Revoke now" in driver.labels(home)
