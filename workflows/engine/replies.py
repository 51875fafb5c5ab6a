"""Answers to a click that could not be given in the ack (Slack calls happen after it)."""

from __future__ import annotations

from bot.slack.escape import escape
from bot.slack.messenger import SlackCallError
from workflows.engine import runtime
from workflows.engine.durable import Dispatcher, durable, step


def reply_later(dispatcher: Dispatcher, reply_id: str, user: str, channel: str | None, text: str) -> None:
    dispatcher.enqueue("reply", f"reply-{reply_id}", user, channel, text)


@step("workflows.replies._send", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _send(user: str, channel: str | None, text: str) -> None:
    slack = runtime.current().slack
    if channel:
        try:
            slack.ephemeral(channel, user, escape(text))
            return
        except SlackCallError:
            pass  # e.g. not in that channel any more: a DM still reaches them
    slack.dm(user, escape(text))


@durable("reply")
def reply(user: str, channel: str | None, text: str) -> None:
    _send(user, channel, text)
