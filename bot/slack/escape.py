"""The one place that makes untrusted text safe to show in Slack.

Slack's mrkdwn treats `<...>` as control sequences (links, `<@U123>` pings, `<!channel>`), so
`&`, `<` and `>` are escaped; after that no user text can ping or forge a link.
"""

from __future__ import annotations

import re

# Control characters, and the bidirectional overrides that make a link or name display as something
# else than it is (e.g. U+202E turns "moc.elgoog" into "google.com" on screen).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def escape(text: str) -> str:
    """Escape user text for mrkdwn and plain text fields."""
    text = _CONTROL.sub("", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mention(slack_id: str | None, fallback: str) -> str:
    """A real mention of a known user id (ids are ours, never user text), else the escaped fallback."""
    if slack_id and re.fullmatch(r"[UW][A-Z0-9]{2,}", slack_id):
        return f"<@{slack_id}>"
    return escape(fallback)
