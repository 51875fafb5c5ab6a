"""What people do in Slack, as a person would (command, modal, button), against a `Stack`: each action waits
until the app is idle, so its effects can be read back at once."""

from __future__ import annotations

from typing import Any

from engops.sandbox.slack import message_as_text
from engops.sandbox.stack import Stack


# --- /access and /it --------------------------------------------------------------------------------------------------
def request_access(
    stack: Stack, user: str, group: str, duration: str | None, reason: str, channel: str = "#general"
) -> None:
    assert stack.driver is not None
    stack.driver.command(user, "/access", "", channel=channel)
    values = {"Okta group": group, "Justification": reason}
    if duration:
        values["Duration"] = duration
    resp = stack.driver.submit_view(user, values)
    assert resp.status == 200, resp.text
    stack.wait_idle()


def file_request(stack: Stack, user: str, values: dict[str, Any], *, text: str = "", channel: str = "#general") -> None:
    assert stack.driver is not None
    assert stack.driver.command(user, "/it", text, channel=channel).status == 200
    resp = stack.driver.submit_view(user, values)
    assert resp.status == 200, resp.text
    stack.wait_idle()


# --- /rotate-keys ----------------------------------------------------------------------------------------------------
def preview_text(stack: Stack, user: str) -> str:
    assert stack.driver is not None
    view = stack.driver.current_view(user)
    assert view is not None, f"{user} has no modal open"
    return message_as_text("", view.blocks)


def open_preview(stack: Stack, user: str, target: str = "") -> str:
    assert stack.driver is not None
    resp = stack.driver.command(user, "/rotate-keys", target)
    assert resp.status == 200, resp.text
    stack.wait_idle()
    return preview_text(stack, user)


def rotate(stack: Stack, user: str, target: str = "", reason: str | None = None) -> None:
    """Open the preview and submit it."""
    assert stack.driver is not None
    open_preview(stack, user, target)
    view = stack.driver.current_view(user)
    assert view is not None and view.body.get("submit"), preview_text(stack, user)
    resp = stack.driver.submit_view(user, {"Reason": reason} if reason else {})
    assert resp.status == 200, resp.text
    stack.wait_idle()


# --- /offboard --------------------------------------------------------------------------------------------------------
def mention(stack: Stack, handle: str) -> str:
    """How Slack sends an @mention in a slash command's text (should_escape)."""
    user = stack.slack.user(handle)
    return f"<@{user.id}|{user.name}>"


def preview(stack: Stack, user: str, text: str, channel: str = "#it-engops") -> str:
    """Run /offboard and return the filled-in preview modal as text."""
    driver = stack.driver
    assert driver is not None
    stack.wait_idle()  # the startup sweep has filled the role cache
    resp = driver.command(user, "/offboard", text, channel=channel)
    assert resp.status == 200, resp.text
    opened = driver.current_view(user)
    assert opened is not None and opened.callback_id == "offboard_preview"
    # opened at once with the trigger, before any lookup; filled in by views.update afterwards
    assert "Resolving" in stack.slack.calls_to("POST", "/api/views.open")[-1].text()
    stack.wait_idle()
    assert "Resolving" not in stack.slack.calls_to("POST", "/api/views.update")[-1].text()
    view = driver.current_view(user)
    assert view is not None
    return message_as_text("", view.blocks)


def submit(stack: Stack, user: str, reason: str = "Last day was Friday (HR-1234)") -> None:
    assert stack.driver is not None
    resp = stack.driver.submit_view(user, {"Reason": reason})
    assert resp.status == 200, resp.text
    stack.wait_idle()


def offboard(stack: Stack, user: str, text: str, channel: str = "#it-engops") -> str:
    shown = preview(stack, user, text, channel)
    submit(stack, user)
    return shown
