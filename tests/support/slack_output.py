"""Everything the bot showed people in Slack, and what must never be in it.

What the bot shows travels three ways: its Slack Web API calls (`chat.postMessage`, `chat.update`,
`views.open`, ...; every version, including messages since edited and modals since closed), its posts
to `response_url`s, and its HTTP answers to Slack (a slash command's reply, a modal's `response_action`).
`Answers` records the last kind by wrapping the driver's transport; the first two are read from the
Slack stand-in's request log. The text is taken as Slack reads it: JSON and form bodies decoded, every
string field collected.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from engops.sandbox.slack import Message, button_labels, message_as_text
from engops.sandbox.slack_driver import DriverResponse, SlackDriver
from engops.sandbox.stack import Stack

SHOWING_METHODS = frozenset(
    {
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
        "chat.scheduleMessage",
        "views.open",
        "views.update",
        "views.push",
        "views.publish",
    }
)

# Slack control sequences: special mentions, user/channel/group mentions, links.
_SEQUENCE = re.compile(r"<([!@#][^<>]*|(?:https?|mailto):[^<>]*)>")
# What the bot itself writes: a bare mention of a user id (bot.slack.escape.mention) and dates.
_OWN_MENTION = re.compile(r"@[UW][A-Z0-9]{2,}")
_OWN_DATE = re.compile(r"!date\^\d+\^[^|]*\|[^<>]*")
# What leaks from a failure: stack traces, exception names, vendor error bodies.
RAW_ERRORS = re.compile(
    r"Traceback|File \"|Exception|SlackApiError|SlackCallError|ProviderError|TransientError|RateLimitedError"
    r"|OperationalError"
    r"|sqlalchemy|psycopg|botocore|urllib3|requests\.exceptions|<ErrorResponse|\"ok\": false|'ok': False|internal_error"
    r"|ratelimited|HTTPError|status_code"
)


class Answers:
    """The app's HTTP answers to the driver (what Slack would show of them), from now on."""

    def __init__(self, driver: SlackDriver) -> None:
        self.bodies: list[bytes] = []
        send = driver.raw

        def recording(body: bytes, headers: dict[str, str]) -> DriverResponse:
            response = send(body, headers)
            self.bodies.append(response.body)
            return response

        driver.raw = recording  # type: ignore[method-assign]


def _payloads(body: bytes) -> list[Any]:
    """A request or answer body as JSON: a JSON body, or a form whose fields hold text and JSON."""
    text = body.decode("utf-8", "replace")
    try:
        return [json.loads(text)]
    except ValueError:
        pass
    fields: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        try:
            fields[key] = json.loads(value) if key in ("blocks", "attachments", "view", "payload") else value
        except ValueError:
            fields[key] = value
    return [fields] if fields else [text]


def _all_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in ("token", "trigger_id", "response_url", "private_metadata"):
                yield from _all_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _all_strings(item)


def _mrkdwn(value: Any, top: bool = True) -> Iterator[str]:
    """The strings Slack renders as mrkdwn (where `<!here>`, `<@U…>` and `<url|label>` act): a message's `text`
    and attachment texts, and `mrkdwn` text objects. `plain_text` and input values are shown literally."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str) and (
                (key == "text" and (top or value.get("type") == "mrkdwn")) or (key == "pretext" and not top)
            ):
                yield item
            elif key == "attachments" and isinstance(item, list):
                for attachment in item:
                    if isinstance(attachment, dict):
                        yield from (str(attachment[k]) for k in ("text", "pretext", "fallback") if k in attachment)
                        yield from _mrkdwn(attachment.get("blocks", []), top=False)
            elif isinstance(item, (dict, list)):
                yield from _mrkdwn(item, top=False)
    elif isinstance(value, list):
        for item in value:
            yield from _mrkdwn(item, top=False)


def _bodies(stack: Stack, answers: Answers | None) -> list[bytes]:
    with stack.slack.lock:
        calls = list(stack.slack.calls)
    sent = [c.body for c in calls if c.path.removeprefix("/api/") in SHOWING_METHODS or c.path.startswith("/response/")]
    return sent + (answers.bodies if answers else [])


def shown(stack: Stack, answers: Answers | None = None) -> list[str]:
    """Every piece of text the bot showed (or tried to show) in Slack, plain or not."""
    return [text for body in _bodies(stack, answers) for payload in _payloads(body) for text in _all_strings(payload)]


def rendered(stack: Stack, answers: Answers | None = None) -> list[str]:
    """What the bot showed that Slack renders as mrkdwn: where a ping or a forged link would act."""
    return [text for body in _bodies(stack, answers) for payload in _payloads(body) for text in _mrkdwn(payload)]


def forged_sequences(texts: list[str], stack: Stack) -> list[str]:
    """Control sequences the bot did not write itself: any special mention (`<!here>`), a mention that is
    not a bare known user id, a link to anywhere but GitLab or a Slack permalink."""
    known_users = set(stack.slack.users)
    own_links = (stack.gitlab.base_url, f"https://{stack.slack.team_domain}.slack.com/archives/")
    forged = []
    for text in texts:
        for match in _SEQUENCE.finditer(text):
            inner = match.group(1)
            if _OWN_DATE.fullmatch(inner):
                continue
            if _OWN_MENTION.fullmatch(inner) and inner[1:] in known_users:
                continue
            if inner.startswith(own_links):
                continue
            forged.append(match.group(0))
    return forged


def raw_errors(texts: list[str]) -> list[str]:
    return [text[:300] for text in texts if RAW_ERRORS.search(text)]


def find_card(stack: Stack, conversation: str, ref: int, label: str) -> Message | None:
    """The newest message about REQ-<ref> with the button `label`, in a channel (`#name`) or a person's DM."""
    messages = stack.slack.all_messages(conversation) if conversation.startswith("#") else stack.slack.dm(conversation)
    for message in reversed(messages):
        if label in button_labels(message.blocks) and re.search(
            rf"\bREQ-{ref}\b", message_as_text(message.text, message.blocks)
        ):
            return message
    return None
