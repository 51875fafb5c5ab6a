"""A modal's `trigger_id` lives 3 s from the click. When Slack answers views.open with a 429, waiting out its
Retry-After would outlive the trigger (and keep the ack waiting): the bot does not retry, and tells the person
Slack is busy, in the conversation (ephemeral) or, from a shortcut with no conversation, in a DM."""

from __future__ import annotations

from engops.sandbox.slack import message_as_text
from engops.sandbox.stack import Stack
from tests.support.slack import last_ephemeral

BUSY = "Slack is busy right now, so the form could not open. Please try again in a moment."


def views_open_calls(stack: Stack) -> int:
    return len(stack.slack.calls_to("POST", "/api/views.open"))


def test_a_rate_limited_command_says_slack_is_busy_instead_of_outliving_the_trigger(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    stack.slack.rate_limit_next("views.open", retry_after=4)  # longer than the trigger has left
    resp = driver.command("alice", "/access", "")
    assert resp.status == 200
    stack.wait_idle()
    assert driver.current_view("alice") is None
    assert views_open_calls(stack) == 1  # given up at once: a retry after 4 s finds the trigger expired
    assert last_ephemeral(stack, "alice") == BUSY
    driver.command("alice", "/access", "")  # trying again, as told, works
    view = driver.current_view("alice")
    assert view is not None and view.callback_id


def test_a_rate_limited_shortcut_says_so_in_a_dm(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    stack.slack.rate_limit_next("views.open", retry_after=4)
    driver.global_shortcut("alice", "request_access")
    stack.wait_idle()
    assert driver.current_view("alice") is None and views_open_calls(stack) == 1
    latest = driver.latest("alice")
    assert latest is not None and message_as_text(latest.text, latest.blocks) == BUSY
