"""A DRI is paged even when Slack fails the page once: the fault is injected at exactly the DM that was lost in the
fault suite (issue #12: `_page_dris` logged Slack's `internal_error` and moved on, so frank was never paged and the
escalation waited for the re-page half an hour later)."""

from __future__ import annotations

from engops.sandbox.base import Fault
from engops.sandbox.stack import Stack
from tests.support.slack import cards_with_ack

SDK_TRIES = 3  # slack_sdk's ServerErrorRetry: the call and two retries, then SlackCallError


def test_a_page_that_slack_fails_is_sent_again(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    stack.wait_idle()  # the role cache (help desk) is filled at worker start
    franks_dm = stack.slack.dm_channel("frank").id
    stack.slack.inject(
        Fault(status=500, path_prefix="/api/chat.postMessage", body_contains=franks_dm, remaining=SDK_TRIES)
    )
    driver.command("hank", "/escalate", "Printer queue is stuck on every floor", channel="#it-engops")
    driver.submit_view("hank", {"Details": "Three floors are affected"})
    stack.wait_idle()

    failed = [c for c in stack.slack.calls_to("POST", "/api/chat.postMessage") if franks_dm in c.text()]
    assert [c.status for c in failed[:SDK_TRIES]] == [500] * SDK_TRIES  # the page met the fault
    assert len(cards_with_ack(stack, "frank")) == 1, "frank was never paged"
    assert len(cards_with_ack(stack, "peggy")) == 1
