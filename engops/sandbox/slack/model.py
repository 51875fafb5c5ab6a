"""The Slack stand-in's records: users, conversations, messages (and ephemeral ones), views, and the
trigger ids and response_urls it hands out, each able to show itself as Slack's Web API does."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from engops.sandbox.slack.blocks import state_values


@dataclass
class SlackUser:
    id: str
    name: str  # the handle
    real_name: str
    email: str
    tz: str = "America/Los_Angeles"
    deleted: bool = False
    is_bot: bool = False
    is_restricted: bool = False  # a guest (from another company, in some channels only)

    def to_api(self, team_id: str, *, with_email: bool = True) -> dict[str, Any]:
        """The user as users.info shows it; Slack leaves `profile.email` out for a token without users:read.email."""
        zone = ZoneInfo(self.tz)
        now = datetime.now(zone)
        offset = now.utcoffset()
        first, _, last = self.real_name.partition(" ")
        return {
            "id": self.id,
            "team_id": team_id,
            "name": self.name,
            "deleted": self.deleted,
            "real_name": self.real_name,
            "tz": self.tz,
            "tz_label": now.tzname() or self.tz,
            "tz_offset": int(offset.total_seconds()) if offset else 0,
            "is_admin": False,
            "is_owner": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "is_restricted": self.is_restricted,
            "is_ultra_restricted": False,
            "updated": 1_700_000_000,
            "profile": {
                "avatar_hash": "",
                "title": "",
                "phone": "",
                "skype": "",
                "status_text": "",
                "status_emoji": "",
                "fields": {},
                "real_name": self.real_name,
                "real_name_normalized": self.real_name,
                "display_name": self.name,
                "display_name_normalized": self.name,
                "first_name": first,
                "last_name": last,
                **({"email": self.email} if with_email else {}),
                "team": team_id,
            },
        }


@dataclass
class Channel:
    id: str
    name: str
    is_im: bool = False
    im_user: str | None = None  # for a DM: the person on the other side of the bot
    bot_member: bool = True
    is_private: bool = False  # a private channel
    mpim_members: tuple[str, ...] = ()  # for a group DM: its people (the bot is in it too)

    @property
    def kind(self) -> str:
        """The conversation's type as Slack's scopes name it: channel, group (private), mpim or im."""
        if self.is_im:
            return "im"
        if self.mpim_members:
            return "mpim"
        return "group" if self.is_private else "channel"


@dataclass
class Message:
    channel: str
    ts: str
    user: str
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None
    bot_id: str | None = None
    reply_broadcast: bool = False
    edits: list[dict[str, Any]] = field(default_factory=list)  # earlier versions, oldest first
    edited_ts: str | None = None
    reactions: dict[str, list[str]] = field(default_factory=dict)  # emoji name -> who reacted, in order

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    @property
    def in_channel(self) -> bool:
        """Shown in the conversation itself, not only in a thread: a top-level message or a broadcast reply."""
        return not self.is_reply or self.reply_broadcast

    def replies_to(self, ts: str) -> bool:
        return self.is_reply and self.thread_ts == ts

    def to_api(self, team_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "message", "user": self.user, "text": self.text, "ts": self.ts, "team": team_id}
        if self.bot_id:
            out["bot_id"] = self.bot_id
        if self.blocks:
            out["blocks"] = self.blocks
        if self.attachments:
            out["attachments"] = self.attachments
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        if self.edited_ts:
            out["edited"] = {"user": self.user, "ts": self.edited_ts}
        if self.reactions:
            out["reactions"] = self.reactions_api()
        return out

    def reactions_api(self) -> list[dict[str, Any]]:
        """`reactions` as Slack shows them on a message: each emoji with its count and who added it."""
        return [{"name": name, "users": list(users), "count": len(users)} for name, users in self.reactions.items()]


@dataclass
class Ephemeral:
    channel: str
    user: str  # who sees it
    ts: str
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None
    deleted: bool = False


@dataclass
class ViewRecord:
    id: str
    user_id: str
    body: dict[str, Any]  # the view as the app sent it, with block/action ids filled in
    hash: str
    root_view_id: str
    previous_view_id: str | None = None
    user_values: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def type(self) -> str:
        return str(self.body.get("type", ""))

    @property
    def callback_id(self) -> str:
        return str(self.body.get("callback_id", ""))

    @property
    def private_metadata(self) -> str:
        return str(self.body.get("private_metadata", ""))

    @property
    def external_id(self) -> str:
        return str(self.body.get("external_id", ""))

    @property
    def blocks(self) -> list[dict[str, Any]]:
        return list(self.body.get("blocks", []))

    def state_values(self) -> dict[str, dict[str, dict[str, Any]]]:
        """What Slack reports in `view.state.values`: every stateful element, initial or chosen."""
        return state_values(self.blocks, self.user_values)


@dataclass
class Trigger:
    user_id: str
    issued_at: float
    used: bool = False


@dataclass
class ResponseUrl:
    user_id: str
    channel_id: str
    issued_at: float
    message_ts: str | None = None  # the channel message the interaction came from
    ephemeral_ts: str | None = None  # or the ephemeral message it came from
    uses: int = 0
