"""Escalating a message from a group DM files its thread: the bot reads it with `mpim:history`, a scope
the manifest must ask for (the Slack stand-in grants the bot exactly the manifest's scopes)."""

from __future__ import annotations

from engops.sandbox.stack import Stack
from tests.support.gitlab import INTEGRATIONS


def test_a_group_dm_thread_is_in_the_escalated_issue(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    stack.wait_idle()  # the role cache (help desk) is filled at worker start
    group_dm = stack.slack.add_group_dm("carol", "dave", "hank")
    msg = stack.slack.post_as_user("carol", group_dm.id, "Payroll sync to NetSuite failed again")
    stack.slack.post_as_user("dave", group_dm.id, "Same for me since 9am", thread_ts=msg.ts)
    driver.message_shortcut("hank", "escalate_message", msg.ts, group_dm.id)
    stack.wait_idle()
    driver.submit_view("hank", {"Urgency": "urgent"})
    stack.wait_idle()
    [issue] = stack.gitlab.issues(INTEGRATIONS)
    desc = issue["description"]
    assert "Carol Chen" in desc and "Dave Diaz" in desc and "> Same for me since 9am" in desc
    assert "could not be read" not in desc.lower() and "missing_scope" not in desc
