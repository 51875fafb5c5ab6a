"""Reading what a user sees in the Slack stand-in."""

from __future__ import annotations

from engops.sandbox.slack import message_as_text
from engops.sandbox.stack import Stack


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
