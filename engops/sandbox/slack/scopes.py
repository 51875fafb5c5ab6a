"""The OAuth scopes each Web API method needs, and Slack's answer to a token that lacks one.

From Slack's Web API spec (slack_web_openapi_v2, each method's `security`), corrected where it is stale
(it is from 2020, before granular bot scopes; tests/integration/test_slack_scopes_contract.py holds the
table against it):
- chat.* list the old `chat:write:bot` / `chat:write:user`; a bot token needs `chat:write`.
- conversations.history/replies list the four `*:history` scopes as if any would do; Slack wants the one of
  the conversation's type (`mpim:history` for a group DM), and so does conversations.open (`im:write` for a
  1:1 DM, `mpim:write` for a group DM).
- users.info needs `users:read`; without `users:read.email` the answer has no `profile.email`.
- conversations.info lists the four `*:read` scopes as if any would do; Slack wants the one of the conversation's
  type, as for history.

Events are delivered by the same rule (Slack's Events API docs, each event's "Required scopes"): an app subscribed
to an event whose token lacks its scope is not sent it (`EVENT_SCOPES`; the driver holds to it).
"""

from __future__ import annotations

from engops.sandbox.slack.errors import SlackError

# A conversation's type as Slack's scopes name it: public channel, private channel, group DM, DM.
HISTORY_SCOPES = {"channel": "channels:history", "group": "groups:history", "mpim": "mpim:history", "im": "im:history"}
OPEN_SCOPES = {"im": "im:write", "mpim": "mpim:write"}
INFO_SCOPES = {"channel": "channels:read", "group": "groups:read", "mpim": "mpim:read", "im": "im:read"}

# Method -> the scopes it accepts (any one will do before the conversation is known); empty: none needed.
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "auth.test": (),
    "chat.postMessage": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "chat.getPermalink": (),
    "views.open": (),
    "views.push": (),
    "views.update": (),
    "views.publish": (),
    "users.info": ("users:read",),
    "users.lookupByEmail": ("users:read.email",),
    "conversations.open": tuple(OPEN_SCOPES.values()),
    "conversations.history": tuple(HISTORY_SCOPES.values()),
    "conversations.replies": tuple(HISTORY_SCOPES.values()),
    "conversations.info": tuple(INFO_SCOPES.values()),
    "reactions.add": ("reactions:write",),
}

# Event -> the scope a token needs to be sent it; empty: none beyond the subscription.
EVENT_SCOPES: dict[str, tuple[str, ...]] = {
    "app_home_opened": (),
    "reaction_added": ("reactions:read",),
    "reaction_removed": ("reactions:read",),
}

EMAIL_SCOPE = "users:read.email"


class MissingScope(SlackError):
    """`{"ok": false, "error": "missing_scope", "needed": ..., "provided": ...}`, as Slack answers."""

    def __init__(self, needed: str, provided: frozenset[str]) -> None:
        super().__init__("missing_scope", fields={"needed": needed, "provided": ",".join(sorted(provided))})


def require_scope(granted: frozenset[str], *accepted: str) -> None:
    """Refuse unless the token holds one of `accepted` (nothing accepted: no scope needed)."""
    if accepted and not granted.intersection(accepted):
        raise MissingScope(",".join(accepted), granted)


def scope_headers(method: str, granted: frozenset[str]) -> dict[str, str]:
    """What Slack says about scopes on every Web API answer to a valid token."""
    return {
        "x-oauth-scopes": ",".join(sorted(granted)),
        "x-accepted-oauth-scopes": ",".join(METHOD_SCOPES.get(method, ())),
    }
