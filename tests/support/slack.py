"""Reading what a user sees in the Slack stand-in."""

from __future__ import annotations

from engops.sandbox.slack import Message, message_as_text
from engops.sandbox.stack import Stack

ACK = "I'm on it"  # the button an escalation's DRIs are paged with


def last_ephemeral(stack: Stack, user: str) -> str:
    assert stack.driver is not None
    shown = stack.driver.ephemerals(user)
    assert shown, f"{user} was shown nothing"
    return message_as_text(shown[-1].text, shown[-1].blocks)


def reply_to(stack: Stack, user: str, command: str, text: str = "", channel: str = "#general") -> str:
    """Run a slash command and return the ephemeral answer the user sees."""
    assert stack.driver is not None
    before = len(stack.driver.ephemerals(user))
    resp = stack.driver.command(user, command, text, channel=channel)
    assert resp.status == 200, resp.text
    shown = stack.driver.ephemerals(user)
    assert len(shown) > before, f"{command} {text!r} showed nothing"
    return message_as_text(shown[-1].text, shown[-1].blocks)


def cards_with_ack(stack: Stack, conversation: str) -> list[Message]:
    assert stack.driver is not None
    return [m for m in stack.slack.all_messages(conversation) if ACK in stack.driver.labels(m)]


def progress_message(stack: Stack, channel: str = "#it-engops") -> Message:
    found = [m for m in stack.slack.all_messages(channel) if "Offboarding progress" in str(m.blocks)]
    assert len(found) == 1, f"expected one progress message in {channel}, found {len(found)}"
    return found[0]


def progress_text(stack: Stack, channel: str = "#it-engops") -> str:
    message = progress_message(stack, channel)
    return message_as_text(message.text, message.blocks)
