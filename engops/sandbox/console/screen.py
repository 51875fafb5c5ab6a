"""What one person sees in the Slack stand-in (channels, their DM with the bot, ephemerals, their
modal and App Home), and the workspace facts the console starts from (people, channels, commands)."""

from __future__ import annotations

from typing import Any

from bot.policy import Policy
from bot.slack.manifest import GLOBAL_SHORTCUTS, MESSAGE_SHORTCUTS, SLASH_COMMANDS
from engops.sandbox.directory import Directory
from engops.sandbox.slack.api import SlackStandIn
from engops.sandbox.slack.model import Message, SlackUser

BOT_NAME = "EngOps Bot"


def workspace(slack: SlackStandIn, directory: Directory, policy: Policy) -> dict[str, Any]:
    """People (with what they can do in the demo), channels, slash commands and shortcuts."""
    hints = person_hints(directory, policy)
    people = []
    for person in directory.people:
        user = slack.user(person.slack_id)
        people.append(
            {
                "id": user.id,
                "handle": user.name,
                "name": user.real_name,
                "email": user.email,
                "hint": hints.get(person.handle, ""),
            }
        )
    with slack.lock:
        channels = [{"id": c.id, "name": c.name} for c in slack.channels.values() if not c.is_im]
    return {
        "team": {"id": slack.team_id, "domain": slack.team_domain},
        "bot": {"id": slack.bot_user_id, "name": BOT_NAME},
        "people": people,
        "channels": sorted(channels, key=lambda c: c["name"]),
        "commands": [
            {"command": name, "description": desc, "usage_hint": hint} for name, (desc, hint) in SLASH_COMMANDS.items()
        ],
        "global_shortcuts": [
            {"callback_id": cid, "name": name, "description": desc} for cid, (name, desc) in GLOBAL_SHORTCUTS.items()
        ],
        "message_shortcuts": [
            {"callback_id": cid, "name": name, "description": desc} for cid, (name, desc) in MESSAGE_SHORTCUTS.items()
        ],
    }


def person_hints(directory: Directory, policy: Policy) -> dict[str, str]:
    """A short 'who is this in the demo' line per person: roles, owned groups, DRI teams, manager."""
    notes: dict[str, list[str]] = {p.handle: [] for p in directory.people}

    def note(email: str, text: str) -> None:
        person = directory.by_email(email)
        if person is not None:
            notes[person.handle].append(text)

    for role_name, role in policy.roles.items():
        holders = set(role.members)
        if role.okta_group:
            holders |= {p.email for p in directory.people if role.okta_group in p.okta_groups}
        for email in sorted(holders):
            note(email, f"role:{role_name}")
    for group in policy.access.groups:
        for email in group.owners:
            note(email, f"owns {group.okta_group}")
    for team in policy.teams.values():
        for email in team.dris:
            note(email, f"DRI {team.name}")
    for person in directory.people:
        reports = [p.handle for p in directory.people if p.manager == person.handle]
        if reports:
            notes[person.handle].append(f"manages {', '.join(reports[:4])}{'…' if len(reports) > 4 else ''}")
        if person.manager:
            notes[person.handle].append(f"reports to {person.manager}")
    return {handle: " · ".join(items) for handle, items in notes.items()}


def _message_json(slack: SlackStandIn, message: Message, replies: list[Message]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ts": message.ts,
        "user": message.user,
        "is_bot": message.bot_id is not None,
        "text": message.text,
        "blocks": message.blocks,
        "attachments": message.attachments,
        "edited": message.edited_ts is not None,
        "permalink": slack.permalink(message),
        "reactions": message.reactions_api(),
    }
    if replies:
        out["replies"] = [_message_json(slack, r, []) for r in replies]
    return out


def _conversation(slack: SlackStandIn, channel_id: str, name: str, kind: str) -> dict[str, Any]:
    everything = slack.all_messages(channel_id)
    replies: dict[str, list[Message]] = {}
    for m in everything:
        if m.is_reply and m.thread_ts:
            replies.setdefault(m.thread_ts, []).append(m)
    top = [m for m in everything if m.in_channel]
    return {
        "id": channel_id,
        "name": name,
        "kind": kind,
        "messages": [_message_json(slack, m, replies.get(m.ts, [])) for m in top],
    }


def screen(slack: SlackStandIn, user: SlackUser) -> dict[str, Any]:
    """Everything `user` can see right now."""
    with slack.lock:  # one consistent picture, and no channel dict changing under the loop
        return _screen(slack, user)


def _screen(slack: SlackStandIn, user: SlackUser) -> dict[str, Any]:
    conversations = [
        _conversation(slack, c.id, c.name, "channel")
        for c in sorted(slack.channels.values(), key=lambda c: c.name)
        if not c.is_im
    ]
    dm = slack.dm_channel(user.id)
    conversations.append(_conversation(slack, dm.id, BOT_NAME, "im"))
    ephemerals = [
        {"channel": e.channel, "ts": e.ts, "text": e.text, "blocks": e.blocks, "thread_ts": e.thread_ts}
        for e in slack.ephemerals(user.id)
    ]
    stack = slack.views(user.id)
    modal = None
    if stack:
        top = stack[-1]
        modal = {**slack.view_api(top), "errors": dict(top.errors), "depth": len(stack)}
    home_record = slack.home(user.id)
    return {
        "user": user.id,
        "conversations": conversations,
        "ephemerals": ephemerals,
        "modal": modal,
        "home": slack.view_api(home_record) if home_record else None,
    }
