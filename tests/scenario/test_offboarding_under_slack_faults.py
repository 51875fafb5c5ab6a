"""An approved offboarding runs its steps even when Slack keeps failing in the request's channel: its progress
message goes to the requester's DM instead (raising there would stop the run before the first step, and leave the
person with their access)."""

from __future__ import annotations

from engops.sandbox.base import Fault
from engops.sandbox.stack import Stack
from tests.support.effects import request_status
from tests.support.slack_actions import mention, offboard


def test_a_channel_slack_keeps_failing_does_not_stop_the_offboarding(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    offboard(stack, "hank", mention(stack, "alice"))
    channel = stack.slack.channel("#it-engops").id
    stack.slack.inject(Fault(status=503, path_prefix="/api/chat.postMessage", body_contains=channel, remaining=None))
    driver.click("heidi", "Approve")
    stack.wait_idle()
    stack.slack.clear_faults()
    assert stack.google.is_suspended("alice@example.com")
    assert stack.okta.user_status("alice@example.com") == "SUSPENDED"
    assert request_status(stack, 1) == "done"
    assert "REQ-1" in driver.dm_text("hank")  # the progress, where it could be shown
