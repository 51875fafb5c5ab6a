"""Access requests over time and under failure: concurrency, denial, reminders, expiry, Okta faults."""

from __future__ import annotations

import threading

from engops.sandbox.base import Fault
from engops.sandbox.stack import Stack
from tests.support.slack import last_ephemeral, reply_to
from tests.support.slack_actions import request_access


def test_ten_concurrent_approve_clicks_make_one_okta_call(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    request_access(stack, "alice", "netsuite-finance", None, "Quarter close")  # one step: owners (oscar)
    card = driver.latest("oscar")
    assert card is not None
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(driver.click("oscar", "Approve", message=card).status))
        for _ in range(10)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stack.wait_idle()
    assert results == [200] * 10
    adds = [c for c in stack.okta.calls if c.method == "PUT" and "/users/" in c.path]
    assert len(adds) == 1
    assert "alice@example.com" in stack.okta.members("netsuite-finance")
    # the answers come from the decide jobs, in whatever order they finish: one decision, nine that changed nothing
    answers = [e.text for e in driver.ephemerals("oscar")]
    assert sum("nothing changed" in a for a in answers) == 9, answers
    assert any("already approved" in a for a in answers), answers


def test_deny_needs_a_reason_and_tells_the_requester(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    request_access(stack, "alice", "netsuite-finance", None, "Quarter close")
    driver.click("oscar", "Deny")
    view = driver.current_view("oscar")
    assert view is not None and view.callback_id == "deny_reason"
    driver.submit_view("oscar", {"Reason": "   "})
    view = driver.current_view("oscar")
    assert view is not None and view.callback_id == "deny_reason"  # still open, with the error
    driver.submit_view("oscar", {"Reason": "Finance access goes through the controller"})
    stack.wait_idle()
    assert "denied by oscar@example.com: Finance access goes through the controller" in driver.dm_text("alice")
    assert "alice@example.com" not in stack.okta.members("netsuite-finance")
    driver.click("oscar", "Deny") if "Deny" in driver.labels(driver.latest("oscar")) else None
    assert "Approve" not in driver.labels(driver.latest("oscar"))


def test_reminder_escalation_and_expiry_of_an_undecided_request(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    request_access(stack, "alice", "netsuite-finance", None, "Quarter close")
    stack.advance(hours=4, minutes=1)
    stack.run_sweep()
    stack.wait_idle()
    assert "Reminder: REQ-1" in driver.dm_text("oscar")
    stack.run_sweep()
    stack.wait_idle()
    assert driver.dm_text("oscar").count("Reminder: REQ-1") == 1  # one reminder only
    assert driver.latest("grace") is None
    stack.advance(hours=20)
    stack.run_sweep()
    stack.wait_idle()
    # escalated: the it-admins get the card with its buttons
    assert "Approve" in driver.labels(driver.latest("grace"))
    assert "Approve" in driver.labels(driver.latest("heidi"))
    stack.advance(days=6)
    stack.run_sweep()
    stack.wait_idle()
    assert "REQ-1 expired" in driver.dm_text("alice")
    assert "Approve" not in driver.labels(driver.latest("grace"))
    driver.click("grace", "Deny") if "Deny" in driver.labels(driver.latest("grace")) else None
    assert "alice@example.com" not in stack.okta.members("netsuite-finance")


def test_each_step_of_a_two_step_request_gets_its_own_reminder(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    request_access(stack, "alice", "aws-sandbox-admins", "4h", "Debugging the staging incident")
    stack.advance(hours=4, minutes=1)
    stack.run_sweep()
    stack.wait_idle()
    assert "Reminder: REQ-1" in driver.dm_text("mona")  # the manager's step
    driver.click("mona", "Approve")
    stack.wait_idle()
    assert "Reminder: REQ-1" not in driver.dm_text("erin")
    stack.advance(hours=4, minutes=1)
    stack.run_sweep()
    stack.wait_idle()
    assert driver.dm_text("erin").count("Reminder: REQ-1") == 1  # the owners' step, reminded in turn
    assert driver.dm_text("mona").count("Reminder: REQ-1") == 1


def test_escalated_admin_can_approve(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    request_access(stack, "alice", "netsuite-finance", None, "Quarter close")
    stack.advance(hours=25)
    stack.run_sweep()
    stack.wait_idle()
    driver.click("heidi", "Approve")
    stack.wait_idle()
    assert "alice@example.com" in stack.okta.members("netsuite-finance")


def test_grant_expires_while_the_bot_is_down_and_is_removed_at_start(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    request_access(stack, "dave", "aws-sandbox-admins", "1h", "Incident")
    driver.click("mona", "Approve")
    stack.wait_idle()
    driver.click("erin", "Approve")
    stack.wait_idle()
    assert "dave@example.com" in stack.okta.members("aws-sandbox-admins")
    stack.stop_app()
    stack.advance(hours=2)
    stack.start_app()
    stack.wait_for(
        lambda: "dave@example.com" not in stack.okta.members("aws-sandbox-admins"), what="removal after start"
    )
    stack.wait_idle()
    assert "access to aws-sandbox-admins expired" in driver.dm_text("dave")


def test_expiry_warnings_a_day_and_an_hour_before(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    request_access(stack, "alice", "netsuite-finance", "3d", "Audit")
    driver.click("oscar", "Approve")
    stack.wait_idle()
    stack.advance(days=2, minutes=1)
    stack.run_sweep()
    stack.wait_idle()
    assert "Heads-up: your access to netsuite-finance ends in 23h" in driver.dm_text("alice")
    stack.advance(hours=23)
    stack.run_sweep()
    stack.wait_idle()
    assert "ends in 59m" in driver.dm_text("alice")
    stack.advance(hours=1)
    stack.run_sweep()
    stack.wait_idle()
    assert "alice@example.com" not in stack.okta.members("netsuite-finance")


def test_short_grants_are_warned_only_before_their_end_and_only_when_longer_than_the_warning(stack: Stack) -> None:
    """Issue #13: any grant under 24 h got an "ends in 3h 59m" heads-up a minute after it was granted."""
    driver = stack.driver
    assert driver is not None
    request_access(stack, "alice", "netsuite-finance", "4h", "Audit")  # longer than 1 hour, shorter than 1 day
    driver.click("oscar", "Approve")
    request_access(stack, "bob", "netsuite-finance", "30m", "Audit")  # shorter than either warning
    driver.click("oscar", "Approve")
    stack.wait_idle()
    assert {"alice@example.com", "bob@example.com"} <= set(stack.okta.members("netsuite-finance"))
    stack.advance(minutes=1)
    stack.run_sweep()
    stack.wait_idle()
    assert "Heads-up" not in driver.dm_text("alice") and "Heads-up" not in driver.dm_text("bob")
    stack.advance(hours=2, minutes=58)  # 1 hour and 1 minute before alice's end; bob's grant has ended
    stack.run_sweep()
    stack.wait_idle()
    assert "Heads-up" not in driver.dm_text("alice")
    stack.advance(minutes=2)  # 59 minutes before alice's end
    stack.run_sweep()
    stack.wait_idle()
    assert driver.dm_text("alice").count("Heads-up") == 1 and "ends in 59m" in driver.dm_text("alice")
    stack.advance(hours=1)
    stack.run_sweep()
    stack.wait_idle()
    assert driver.dm_text("alice").count("Heads-up") == 1
    assert "Heads-up" not in driver.dm_text("bob")
    assert not {"alice@example.com", "bob@example.com"} & set(stack.okta.members("netsuite-finance"))


def test_revoke_now_and_access_revoke(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    request_access(stack, "alice", "netsuite-finance", None, "Audit")
    driver.click("oscar", "Approve")
    stack.wait_idle()
    assert "netsuite-finance" in reply_to(stack, "alice", "/access", "list")
    driver.click("dave", "Revoke now", channel="#general") if False else None
    driver.click("alice", "Revoke now")
    stack.wait_idle()
    assert "alice@example.com" not in stack.okta.members("netsuite-finance")
    assert "was revoked by" in driver.dm_text("alice")
    # and by command
    request_access(stack, "bob", "zoom-users", None, "Calls")
    assert "bob@example.com" in stack.okta.members("zoom-users")
    assert "Removing bob@example.com from zoom-users" in reply_to(stack, "bob", "/access", "revoke zoom-users")
    stack.wait_idle()
    assert "bob@example.com" not in stack.okta.members("zoom-users")
    assert "no active grant" in reply_to(stack, "bob", "/access", "revoke zoom-users")


def test_okta_429_and_5xx_are_retried_invisibly(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    stack.okta.inject(Fault(status=429, path_prefix="/api/v1/groups/", method="PUT", remaining=1, kind="ratelimit"))
    stack.okta.inject(Fault(status=503, path_prefix="/api/v1/groups/", method="PUT", remaining=1))
    request_access(stack, "bob", "zoom-users", None, "Calls")
    assert "bob@example.com" in stack.okta.members("zoom-users")
    dms = driver.dm_text("bob")
    assert "failed" not in dms.lower() and "Done" in dms


def test_okta_down_for_longer_fails_with_retry_then_retry_fixes_it(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    stack.okta.inject(Fault(status=503, path_prefix="/api/v1/groups/", method="PUT", remaining=None))
    request_access(stack, "bob", "zoom-users", None, "Calls", channel="#it-engops")
    assert "REQ-1 failed" in driver.dm_text("bob")
    assert "Failed" in driver.dm_text("bob")
    driver.click("dave", "Retry failed steps", channel="#it-engops")
    stack.wait_idle()
    assert "Only the requester or an IT admin" in last_ephemeral(stack, "dave")
    stack.okta.clear_faults()
    driver.click("bob", "Retry failed steps")
    stack.wait_idle()
    assert "bob@example.com" in stack.okta.members("zoom-users")
    assert "Done: bob@example.com is now in zoom-users" in driver.dm_text("bob")
