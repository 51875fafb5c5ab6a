"""The Slack app manifest, from one source: `engops manifest` prints it, manifest.json is it."""

from __future__ import annotations

from typing import Any

DEFAULT_URL = "https://engops.example.com"

SLASH_COMMANDS: dict[str, tuple[str, str]] = {
    "/access": (
        "Request access to an Okta group, list or revoke your grants",
        "[group duration reason] | list | revoke <group>",
    ),
    "/offboard": ("Offboard people (help desk, IT admins)", "<@user or email> […]"),
    "/rotate-keys": ("Rotate AWS IAM access keys", "[iam-user]"),
    "/it": ("File an IT request with the right EngOps team", "[summary]"),
    "/escalate": ("Escalate to EngOps (help desk)", "<text or ticket URL>"),
    "/engops": ("EngOps Bot: help, status, your requests and approvals", "help | status REQ-n | mine | approvals"),
}

GLOBAL_SHORTCUTS: dict[str, tuple[str, str]] = {
    "request_access": ("Request access", "Request access to an Okta group"),
    "file_it_request": ("File an IT request", "File an IT request with the right EngOps team"),
}
MESSAGE_SHORTCUTS: dict[str, tuple[str, str]] = {
    "escalate_message": ("Escalate to EngOps", "File this message with EngOps and page the team's DRI"),
}

# app_home_opened: the App Home; reaction_added: help-desk intake by emoji (SPEC §6.4, `intake:` in the policy).
BOT_EVENTS = ["app_home_opened", "reaction_added"]

EVENTS_PATH = "/slack/events"

# The bot scopes, each with what it is for: exactly what the bot's Web API calls and its events need (Slack sends
# reaction_added only to a token with reactions:read). `engops check --live` names a missing one with its use; the
# Slack stand-in grants its bot token these and no more.
BOT_SCOPE_USES: dict[str, str] = {
    "commands": "receive slash commands and shortcuts",
    "chat:write": "post and update messages and ephemeral replies",
    "chat:write.public": "post to a public channel of the policy without being invited to it",
    "im:write": "open DMs with requesters, approvers and DRIs",
    "im:history": "read threads in DMs (escalation transcripts, no double posts after a retry)",
    "users:read": "look up a person's name",
    "users:read.email": "find people by email and see their email (who they are in Okta and Google)",
    "channels:history": "read threads in public channels (escalation transcripts, no double posts after a retry)",
    "groups:history": "read threads in private channels (escalation transcripts, no double posts after a retry)",
    "mpim:history": "read threads in group DMs (escalation transcripts, no double posts after a retry)",
    "reactions:read": "be told of emoji reactions (intake by emoji in the policy's intake channels)",
    "reactions:write": "react to a message filed by emoji intake",
    "channels:read": "see the name of a public channel a reaction came from (intake by emoji)",
    "groups:read": "see the name of a private channel a reaction came from (intake by emoji)",
}
BOT_SCOPES = list(BOT_SCOPE_USES)


def events_url_for(url: str) -> str:
    """The request URL Slack is given: `url` is the public base URL of `engops serve` or already its events URL."""
    trimmed = url.strip().rstrip("/")
    return trimmed if trimmed.endswith(EVENTS_PATH) else trimmed + EVENTS_PATH


def build_manifest(url: str = DEFAULT_URL, *, socket: bool = False) -> dict[str, Any]:
    events_url = events_url_for(url)
    commands = []
    for name, (description, hint) in SLASH_COMMANDS.items():
        command: dict[str, Any] = {
            "command": name,
            "description": description,
            "usage_hint": hint,
            "should_escape": True,
        }
        if not socket:
            command["url"] = events_url
        commands.append(command)
    shortcuts = [
        {"name": name, "type": "global", "callback_id": cid, "description": desc}
        for cid, (name, desc) in GLOBAL_SHORTCUTS.items()
    ] + [
        {"name": name, "type": "message", "callback_id": cid, "description": desc}
        for cid, (name, desc) in MESSAGE_SHORTCUTS.items()
    ]
    interactivity: dict[str, Any] = {"is_enabled": True}
    event_subscriptions: dict[str, Any] = {"bot_events": BOT_EVENTS}
    if not socket:
        interactivity["request_url"] = events_url
        interactivity["message_menu_options_url"] = events_url
        event_subscriptions["request_url"] = events_url
    return {
        "display_information": {
            "name": "EngOps Bot",
            "description": "Access, offboarding, key rotation and IT requests for EngOps",
            "background_color": "#1d3557",
        },
        "features": {
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": False,
            },
            "bot_user": {"display_name": "engops", "always_online": True},
            "shortcuts": shortcuts,
            "slash_commands": commands,
        },
        "oauth_config": {"scopes": {"bot": BOT_SCOPES}},
        "settings": {
            "event_subscriptions": event_subscriptions,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket,
            "token_rotation_enabled": False,
        },
    }
