"""The one place that makes untrusted text safe to send to GitLab (SPEC §6.4).

GitLab runs quick actions (`/close`, `/label ~x`, ...) found at the start of any line of an issue
description or note, and notifies people for `@all`, `@here`, `@group` and `@user` references.
Whether a line counts depends on GitLab's reading of the markdown around it (fences, quotes, HTML
blocks), which user text can bend. So `gitlab_safe` works line by line, regardless of markdown
context: every line whose first non-blank character is `/` gets a zero-width space before that
slash, and every `@` that could start a reference gets one after it. Both stay invisible to the
reader; markdown links, code and emphasis are left as they are, so the text stays readable.
HTML tags and comments (which could hide text from the reader) are shown as text.

`from_slack` turns Slack's message markup (`<@U1|name>`, `<!here>`, `<url|label>`, `&lt;`) into
plain text first, for text that comes from Slack messages rather than from a form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

ZERO_WIDTH = "\u200b"
TITLE_MAX = 255
TEXT_MAX = 60_000  # per piece of user text; GitLab's own limit for a description is 1 MB

_LINE_BREAKS = re.compile(r"\r\n?|[\u0085\u2028\u2029]")
# C0/C1 controls except tab and newline, and the bidirectional overrides that can make text read
# differently from what it is.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SLASH_LINE = re.compile(r"^([^\S\n]*)/", re.MULTILINE)
_REFERENCE = re.compile(r"(?<![A-Za-z0-9_])@(?=[A-Za-z0-9_])")
_HTML_OPEN = re.compile(r"<(?=[A-Za-z/!?])")
_SPACES = re.compile(r"\s+")

_SLACK_MARKUP = re.compile(r"<([^<>\n]*)>")
_SLACK_SPECIAL = {"here": "@here", "channel": "@channel", "everyone": "@everyone"}


def gitlab_safe(text: str, *, limit: int = TEXT_MAX) -> str:
    """Untrusted text made safe for a GitLab description or note: nothing in it can run or ping."""
    text = _LINE_BREAKS.sub("\n", text)
    text = _CONTROL.sub("", text)
    text = _HTML_OPEN.sub("&lt;", text)
    text = _REFERENCE.sub("@" + ZERO_WIDTH, text)
    text = _SLASH_LINE.sub(lambda m: m.group(1) + ZERO_WIDTH + "/", text)
    return _truncate(text.strip("\n"), limit)


def gitlab_title(text: str, *, suffix: str = "") -> str:
    """One line of untrusted text as an issue title, `suffix` (ours) kept, at most 255 characters."""
    line = _SPACES.sub(" ", gitlab_safe(_LINE_BREAKS.sub("\n", text), limit=TEXT_MAX)).strip()
    room = TITLE_MAX - len(suffix)
    return _truncate(line, room) + suffix


def from_slack(text: str, names: Mapping[str, str] | None = None) -> str:
    """Slack message markup as plain text; `names` maps user ids to display names where known."""
    known = names or {}

    def plain(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            user = target[1:]
            return "@" + (label or known.get(user) or user)
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            special = target[1:]
            if special in _SLACK_SPECIAL:
                return _SLACK_SPECIAL[special]
            if special.startswith("subteam^"):
                return label if label.startswith("@") else "@" + (label or special.split("^", 1)[1])
            return label or ""
        if re.match(r"(?i)^(https?://|mailto:)", target):
            return f"[{label}]({target})" if label and label != target else target
        return match.group(0)

    converted = _SLACK_MARKUP.sub(plain, text)
    return converted.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip() + "…"
