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

BOT_EVENTS = ["app_home_opened"]

BOT_SCOPES = [
    "commands",
    "chat:write",
    "chat:write.public",
    "im:write",
    "im:history",
    "users:read",
    "users:read.email",
    "channels:read",
    "channels:history",
    "groups:read",
    "groups:history",
]


def build_manifest(url: str = DEFAULT_URL, *, socket: bool = False) -> dict[str, Any]:
    base = url.rstrip("/")
    events_url = f"{base}/slack/events"
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
