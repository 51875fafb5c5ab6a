"""What Slack's client does to a typed slash command before the app sees it.

Every command in the manifest has `should_escape: true`, so Slack sends `&`, `<` and `>` escaped,
`@name` as `<@U…|name>`, `@here` as `<!here>`, `#channel` as `<#C…|channel>`, emails as
`<mailto:…|…>` and URLs as `<…>`. Names that match nobody stay as typed, as in Slack.
"""

from __future__ import annotations

import re

from bot.slack.escape import escape
from engops.sandbox.slack.api import SlackStandIn

_TOKENS = re.compile(
    r"(?P<url>https?://[^\s<>|]+)"
    r"|(?P<email>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)"
    r"|(?<![\w@])@(?P<user>[\w.-]*\w)"
    r"|(?<![\w&;])#(?P<channel>[\w-]+)"
)
_BROADCASTS = {"here", "channel", "everyone"}


def escaped_command_text(text: str, slack: SlackStandIn) -> str:
    def convert(match: re.Match[str]) -> str:
        if match["url"]:
            return f"<{match['url']}>"
        if match["email"]:
            return f"<mailto:{match['email']}|{match['email']}>"
        if match["user"]:
            name = match["user"]
            if name in _BROADCASTS:
                return f"<!{name}>"
            try:
                user = slack.user(name)
            except KeyError:
                return match.group(0)
            if user.name.lower() != name.lower():  # a user id or an email is not a name Slack would link
                return match.group(0)
            return f"<@{user.id}|{user.name}>"
        try:
            channel = slack.channel("#" + match["channel"])
        except KeyError:
            return match.group(0)
        return f"<#{channel.id}|{channel.name}>"

    return _TOKENS.sub(convert, escape(text))
