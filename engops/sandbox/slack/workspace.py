"""The Slack stand-in's workspace: its people, conversations, messages, modal stacks and App Homes,
and what Slack does to them (posting, editing, opening and stacking views, replies through
response_urls), apart from HTTP. `SlackStandIn` (api.py) serves it as the Web API; tests, the driver
and the console read it back through the query methods at the bottom.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any, Self

from bot.slack.manifest import BOT_SCOPES
from engops.sandbox.base import StandIn
from engops.sandbox.directory import Directory
from engops.sandbox.slack.arguments import as_bool, message_content, view_content
from engops.sandbox.slack.blocks import elements_of, is_interactive, stateful_elements
from engops.sandbox.slack.errors import SlackError, SlackProtocolError
from engops.sandbox.slack.model import Channel, Ephemeral, Message, ResponseUrl, SlackUser, Trigger, ViewRecord

MODAL_STACK_MAX = 3
TRIGGER_TTL = 3.0

# The demo's channels: #general, the teams' channels of policy.example.yaml, and its help-desk intake channel.
POLICY_CHANNELS = (
    "general",
    "bt-engineering-access-manager",
    "infra-access-requests",
    "bt-integrations",
    "it-engops",
    "it-help",
)

# Emoji names reactions may use: a sample of Slack's standard set (`add_emoji` adds a workspace's custom ones).
# Slack answers any other name `invalid_name`; it stores `thumbsup` as `+1` and `thumbsdown` as `-1`.
STANDARD_EMOJI = frozenset(
    {
        "eyes",
        "white_check_mark",
        "heavy_check_mark",
        "ballot_box_with_check",
        "+1",
        "-1",
        "ok_hand",
        "tada",
        "raised_hands",
        "pray",
        "clap",
        "wave",
        "fire",
        "rocket",
        "heart",
        "joy",
        "smile",
        "slightly_smiling_face",
        "thinking_face",
        "sweat_smile",
        "100",
        "x",
        "warning",
        "ticket",
        "hourglass",
        "hourglass_flowing_sand",
        "memo",
        "mag",
        "rotating_light",
        "sos",
        "speech_balloon",
        "question",
        "exclamation",
        "point_up",
        "muscle",
        "star",
        "sparkles",
        "bulb",
        "zap",
        "construction",
        "white_circle",
        "red_circle",
        "large_green_circle",
        "no_entry",
        "no_entry_sign",
        "lock",
        "key",
        "bug",
        "robot_face",
        "handshake",
        "raising_hand",
        "computer",
        "link",
        "pushpin",
        "bell",
        "calendar",
        "alarm_clock",
        "ship",
        "package",
    }  # fmt: skip
)
EMOJI_ALIASES = {"thumbsup": "+1", "thumbsdown": "-1"}
_EMOJI_NAME = re.compile(r"(?P<base>[a-z0-9_+'-]{1,100})(?P<tone>::skin-tone-[2-6])?")
MAX_DISTINCT_REACTIONS = 50  # on one message: Slack answers `too_many_emoji` beyond
MAX_REACTIONS_PER_PERSON = 23  # by one person on one message: `too_many_reactions` beyond


class SlackWorkspace(StandIn):
    name = "slack"

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-sandbox-bot-token",  # noqa: S107
        team_id: str = "T0SANDBOX1",
        team_domain: str = "engops-sandbox",
        app_id: str = "A0ENGOPS01",
        bot_id: str = "B0ENGOPS01",
        bot_user_id: str = "U0ENGOPSBOT",
        bot_name: str = "engops",
        clock: Callable[[], float] = time.time,
        trigger_ttl: float = TRIGGER_TTL,
        base_url: str = "",
        seed: int = 0,
        bot_scopes: Iterable[str] = BOT_SCOPES,
    ) -> None:
        super().__init__()
        self.bot_token = bot_token
        # Bot tokens and the scopes each was granted; the app's own token gets what its manifest asks for.
        self.tokens: dict[str, frozenset[str]] = {bot_token: frozenset(bot_scopes)}
        self.team_id = team_id
        self.team_domain = team_domain
        self.app_id = app_id
        self.bot_id = bot_id
        self.bot_user_id = bot_user_id
        self.clock = clock
        self.trigger_ttl = trigger_ttl
        self.base_url = base_url  # where this stand-in is served; needed for response_url links
        self._rng = random.Random(seed)
        self._last_ts_us = 0
        self._counter = 0
        self.users: dict[str, SlackUser] = {}
        self.channels: dict[str, Channel] = {}
        self._messages: dict[str, list[Message]] = {}
        self._ephemerals: list[Ephemeral] = []
        self._views: dict[str, ViewRecord] = {}
        self._stacks: dict[str, list[str]] = {}  # user id -> modal view ids, root first
        self._homes: dict[str, str] = {}  # user id -> home view id
        self._triggers: dict[str, Trigger] = {}
        self._response_urls: dict[str, ResponseUrl] = {}
        self.custom_emoji: set[str] = set()
        self.add_user(bot_user_id, bot_name, "EngOps Bot", "", is_bot=True)

    @classmethod
    def from_directory(cls, directory: Directory, **kwargs: Any) -> Self:
        slack = cls(**kwargs)
        slack.seed(directory)
        return slack

    def seed(self, directory: Directory) -> None:
        for person in directory.people:
            self.add_user(person.slack_id, person.handle, person.name, person.email)
        for guest in directory.guests:
            self.add_user(guest.slack_id, guest.handle, guest.name, guest.email, is_restricted=True)
        for name in POLICY_CHANNELS:
            self.add_channel(name)

    # --- configuration -----------------------------------------------------------------------
    def add_user(
        self,
        user_id: str,
        handle: str,
        real_name: str,
        email: str,
        *,
        tz: str = "America/Los_Angeles",
        deleted: bool = False,
        is_bot: bool = False,
        is_restricted: bool = False,
    ) -> SlackUser:
        user = SlackUser(user_id, handle, real_name, email, tz, deleted, is_bot, is_restricted)
        with self.lock:
            self.users[user_id] = user
        return user

    def issue_bot_token(self, *, scopes: Iterable[str] | None = None, without: Iterable[str] = ()) -> str:
        """Another bot token for this app, as after installing it with other scopes: `scopes` (default: the
        app token's) less `without`."""
        granted = frozenset(self.tokens[self.bot_token] if scopes is None else scopes) - frozenset(without)
        token = f"xoxb-{self.team_id[1:]}-{secrets.token_hex(12)}"
        with self.lock:
            self.tokens[token] = granted
        return token

    def add_channel(
        self, name: str, *, channel_id: str | None = None, bot_member: bool = True, private: bool = False
    ) -> Channel:
        with self.lock:
            name = name.lstrip("#")
            existing = self._channel_by_name(name)
            if existing:
                return existing
            channel_id = channel_id or f"C{self._next_number():08d}"
            channel = Channel(channel_id, name, bot_member=bot_member, is_private=private)
            self.channels[channel.id] = channel
            self._messages[channel.id] = []
            return channel

    def add_emoji(self, name: str) -> None:
        """A custom emoji of this workspace, usable in reactions."""
        with self.lock:
            self.custom_emoji.add(name)

    def add_group_dm(self, *user_refs: str) -> Channel:
        """A group DM (mpim) of these people and the bot, named as Slack names it (mpdm-a--b--c-1)."""
        people = [self.user(ref) for ref in user_refs]
        name = "mpdm-" + "--".join(p.name for p in people) + "-1"
        with self.lock:
            existing = self._channel_by_name(name)
            if existing:
                return existing
            channel = Channel(f"G{self._next_number():08d}", name, mpim_members=tuple(p.id for p in people))
            self.channels[channel.id] = channel
            self._messages[channel.id] = []
            return channel

    # --- ids ---------------------------------------------------------------------------------
    def _next_number(self) -> int:
        self._counter += 1
        return self._counter

    def _new_ts(self) -> str:
        us = max(int(self.clock() * 1_000_000), self._last_ts_us + 1)
        self._last_ts_us = us
        return f"{us // 1_000_000}.{us % 1_000_000:06d}"

    def _random_id(self, length: int = 10) -> str:
        return "".join(self._rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(length))

    def _new_hash(self) -> str:
        return f"{int(self.clock())}.{self._rng.getrandbits(32):08x}"

    # --- directory lookups -------------------------------------------------------------------
    def user(self, ref: str) -> SlackUser:
        """A user by id (U…), handle ("alice", "@alice") or email; KeyError when unknown."""
        ref = ref.strip().lstrip("@")
        with self.lock:
            if ref in self.users:
                return self.users[ref]
            for user in self.users.values():
                if ref.lower() in (user.name.lower(), user.email.lower()):
                    return user
        raise KeyError(f"no Slack user {ref!r}")

    def _channel_by_name(self, name: str) -> Channel | None:
        for channel in self.channels.values():
            if not channel.is_im and channel.name == name:
                return channel
        return None

    def dm_channel(self, user_ref: str) -> Channel:
        """The bot's DM with a user (stable `D…` id per user), opened on first use."""
        user = self.user(user_ref)
        channel_id = "D" + user.id[1:]
        with self.lock:
            if channel_id not in self.channels:
                self.channels[channel_id] = Channel(channel_id, user.id, is_im=True, im_user=user.id)
                self._messages[channel_id] = []
            return self.channels[channel_id]

    def _channel_by_id(self, ref: str) -> Channel | None:
        """A conversation by id; a user's DM by its id (D…) even before it was opened. The caller holds the lock."""
        if ref in self.channels:
            return self.channels[ref]
        if ref.startswith("D") and ("U" + ref[1:]) in self.users:
            return self.dm_channel("U" + ref[1:])
        return None

    def channel(self, ref: str) -> Channel:
        """A conversation by id (C…/D…), by name ("#general", "general") or a user's DM (U…/handle/email)."""
        with self.lock:
            found = self._channel_by_id(ref) or self._channel_by_name(ref.lstrip("#"))
            if found:
                return found
        if ref.startswith("#"):
            raise KeyError(f"no channel {ref!r}")
        return self.dm_channel(ref)

    # --- messages ----------------------------------------------------------------------------
    def _content(self, args: dict[str, Any], *, required: bool = True) -> tuple[str, list[Any], list[Any]]:
        text, blocks, attachments = message_content(args, required=required)
        return text, self._fill_ids(blocks), attachments

    def _fill_ids(self, blocks: list[Any]) -> list[dict[str, Any]]:
        """Slack gives every block a block_id and every interactive element an action_id."""
        filled: list[dict[str, Any]] = []
        for block in blocks:
            block = json.loads(json.dumps(block))
            block.setdefault("block_id", self._random_id(5))
            for element in elements_of(block):
                if is_interactive(element):
                    element.setdefault("action_id", self._random_id(5))
            filled.append(block)
        return filled

    def _find(self, channel_id: str, ts: str) -> Message | None:
        for message in self._messages.get(channel_id, []):
            if message.ts == ts:
                return message
        return None

    def _append(self, message: Message) -> Message:
        self._messages[message.channel].append(message)
        return message

    def _edit(
        self,
        message: Message,
        text: str | None,
        blocks: list[dict[str, Any]] | None,
        attachments: list[Any] | None,
    ) -> None:
        message.edits.append(
            {
                "text": message.text,
                "blocks": message.blocks,
                "attachments": message.attachments,
                "edited_ts": message.edited_ts,
            }
        )
        # As chat.update documents: omitted blocks/attachments are kept; an empty array removes them.
        if text is not None:
            message.text = text
        if blocks is not None:
            message.blocks = blocks
        if attachments is not None:
            message.attachments = attachments
        message.edited_ts = self._new_ts()

    # --- reactions ---------------------------------------------------------------------------
    def emoji_name(self, name: str) -> str:
        """The emoji name as Slack stores it; `invalid_name` for one it does not know (colons included)."""
        found = _EMOJI_NAME.fullmatch(name)
        if found is None:
            raise SlackError("invalid_name")
        base = EMOJI_ALIASES.get(found["base"], found["base"])
        if base not in STANDARD_EMOJI and base not in self.custom_emoji:
            raise SlackError("invalid_name")
        return base + (found["tone"] or "")

    def _add_reaction(self, user_id: str, channel_id: str, ts: str, name: str) -> Message:
        """`user_id` reacts with `name` to a message, as Slack refuses or records it. The caller holds the lock."""
        emoji = self.emoji_name(name)
        message = self._find(channel_id, ts)
        if message is None:
            raise SlackError("message_not_found")
        users = message.reactions.get(emoji, [])
        if user_id in users:
            raise SlackError("already_reacted")
        if emoji not in message.reactions and len(message.reactions) >= MAX_DISTINCT_REACTIONS:
            raise SlackError("too_many_emoji")
        if sum(user_id in who for who in message.reactions.values()) >= MAX_REACTIONS_PER_PERSON:
            raise SlackError("too_many_reactions")
        message.reactions[emoji] = [*users, user_id]
        return message

    def _remove_reaction(self, user_id: str, channel_id: str, ts: str, name: str) -> Message:
        emoji = self.emoji_name(name)
        message = self._find(channel_id, ts)
        if message is None:
            raise SlackError("message_not_found")
        users = message.reactions.get(emoji, [])
        if user_id not in users:
            raise SlackError("no_reaction")
        left = [u for u in users if u != user_id]
        if left:
            message.reactions[emoji] = left
        else:
            del message.reactions[emoji]
        return message

    def react(self, user_ref: str, channel_ref: str, ts: str, name: str) -> Message:
        """A person adds a reaction (SlackError as Slack would refuse it: already_reacted, invalid_name, ...)."""
        user, channel = self.user(user_ref), self.channel(channel_ref)
        with self.lock:
            return self._add_reaction(user.id, channel.id, ts, name)

    def unreact(self, user_ref: str, channel_ref: str, ts: str, name: str) -> Message:
        """A person takes their reaction back (SlackError `no_reaction` when they had none)."""
        user, channel = self.user(user_ref), self.channel(channel_ref)
        with self.lock:
            return self._remove_reaction(user.id, channel.id, ts, name)

    def reactions(self, channel_ref: str, ts: str) -> dict[str, list[str]]:
        """A message's reactions: emoji name -> the ids of who added it, in order."""
        message = self.message(channel_ref, ts)
        with self.lock:
            return {name: list(users) for name, users in message.reactions.items()}

    def permalink(self, message: Message) -> str:
        link = f"https://{self.team_domain}.slack.com/archives/{message.channel}/p{message.ts.replace('.', '')}"
        if message.is_reply:
            link += f"?thread_ts={message.thread_ts}&cid={message.channel}"
        return link

    # --- views -------------------------------------------------------------------------------
    def _view_arg(self, args: dict[str, Any], kind: str) -> dict[str, Any]:
        view = view_content(args, kind)
        view["blocks"] = self._fill_ids(view["blocks"])
        return view

    def _new_view(self, user_id: str, body: dict[str, Any], root: str | None, previous: str | None) -> ViewRecord:
        view_id = f"V{self._next_number():09d}"
        record = ViewRecord(view_id, user_id, body, self._new_hash(), root or view_id, previous)
        self._views[view_id] = record
        return record

    def _push(self, user_id: str, view: dict[str, Any]) -> ViewRecord:
        stack = self._stacks.get(user_id) or []
        if not stack:
            raise SlackError("not_found", "[ERROR] no modal is open to push onto")
        if len(stack) >= MODAL_STACK_MAX:
            raise SlackError("push_limit_reached")
        record = self._new_view(user_id, view, stack[0], stack[-1])
        stack.append(record.id)
        return record

    def _replace_view(self, record: ViewRecord, view: dict[str, Any]) -> None:
        record.body = view
        record.hash = self._new_hash()
        record.errors = {}
        # Input keeps what the user entered where block_id and action_id are unchanged (as Slack does).
        present = {(b["block_id"], e["action_id"]) for b, e in stateful_elements(record.blocks)}
        record.user_values = {
            block_id: kept
            for block_id, actions in record.user_values.items()
            if (kept := {a: v for a, v in actions.items() if (block_id, a) in present})
        }

    def _close(self, user_id: str, view_id: str) -> None:
        stack = self._stacks.get(user_id, [])
        if view_id in stack:
            stack.remove(view_id)
        self._views.pop(view_id, None)

    def view_api(self, record: ViewRecord) -> dict[str, Any]:
        body = record.body
        return {
            "id": record.id,
            "team_id": self.team_id,
            "type": record.type,
            "blocks": record.blocks,
            "private_metadata": record.private_metadata,
            "callback_id": record.callback_id,
            "state": {"values": record.state_values()},
            "hash": record.hash,
            "title": body.get("title"),
            "clear_on_close": bool(body.get("clear_on_close", False)),
            "notify_on_close": bool(body.get("notify_on_close", False)),
            "close": body.get("close"),
            "submit": body.get("submit"),
            "previous_view_id": record.previous_view_id,
            "root_view_id": record.root_view_id,
            "app_id": self.app_id,
            "external_id": record.external_id,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }

    # --- replies through a response_url or to a command --------------------------------------
    def _respond(self, hook: ResponseUrl, payload: dict[str, Any]) -> None:
        original = self._find(hook.channel_id, hook.message_ts) if hook.message_ts else None
        original_eph = next((e for e in self._ephemerals if e.ts == hook.ephemeral_ts), None)
        if as_bool(payload.get("delete_original", False)):
            if original is not None:
                self._messages[hook.channel_id].remove(original)
            elif original_eph is not None:
                original_eph.deleted = True
            else:
                raise SlackError("message_not_found", status=404)
            return
        text, blocks, _ = self._content(payload)
        if as_bool(payload.get("replace_original", False)) and (original or original_eph):
            if original is not None:
                self._edit(original, text, blocks, None)
            elif original_eph is not None:
                original_eph.text, original_eph.blocks = text, blocks
            return
        self.deliver_response(hook.user_id, hook.channel_id, payload, thread_ts=payload.get("thread_ts"))

    def deliver_response(
        self, user_id: str, channel_id: str, payload: dict[str, Any], *, thread_ts: str | None = None
    ) -> Message | Ephemeral:
        """A message the app sent as a command reply or through a response_url (ephemeral unless in_channel)."""
        with self.lock:
            text, blocks, attachments = self._content(payload)
            if payload.get("response_type") == "in_channel":
                return self._append(
                    Message(
                        channel_id, self._new_ts(), self.bot_user_id, text, blocks, attachments, thread_ts, self.bot_id
                    )
                )
            ephemeral = Ephemeral(channel_id, user_id, self._new_ts(), text, blocks, thread_ts)
            self._ephemerals.append(ephemeral)
            return ephemeral

    # --- what the driver (acting as Slack's client) uses -------------------------------------
    def issue_trigger(self, user_ref: str) -> str:
        user = self.user(user_ref)
        with self.lock:
            trigger_id = f"{int(self.clock() * 1000)}.{self.team_id[1:]}.{self._rng.getrandbits(128):032x}"
            self._triggers[trigger_id] = Trigger(user.id, self.clock())
        return trigger_id

    def issue_response_url(
        self, user_ref: str, channel_id: str, *, message_ts: str | None = None, ephemeral_ts: str | None = None
    ) -> str:
        if not self.base_url:
            raise RuntimeError("set SlackStandIn.base_url to where it is served before issuing response_urls")
        user = self.user(user_ref)
        with self.lock:
            token = f"{self.team_id}/{self._next_number()}/{self._rng.getrandbits(96):024x}"
            self._response_urls[token] = ResponseUrl(user.id, channel_id, self.clock(), message_ts, ephemeral_ts)
        return f"{self.base_url.rstrip('/')}/response/{token}"

    def post_as_user(self, user_ref: str, channel_ref: str, text: str, *, thread_ts: str | None = None) -> Message:
        """A person's own message (for message shortcuts, threads to escalate, transcripts)."""
        user = self.user(user_ref)
        channel = self.channel(channel_ref)
        blocks = [
            {
                "type": "rich_text",
                "block_id": self._random_id(5),
                "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}],
            }
        ]
        with self.lock:
            return self._append(Message(channel.id, self._new_ts(), user.id, text, blocks, [], thread_ts))

    def set_view_value(self, view_id: str, block_id: str, action_id: str, value: dict[str, Any]) -> None:
        """The user typed or picked something in a view (kept in `view.state.values`)."""
        with self.lock:
            self._views[view_id].user_values.setdefault(block_id, {})[action_id] = value

    def apply_view_submission(self, view_id: str, response: dict[str, Any] | None) -> None:
        """What Slack does with the app's answer to a view_submission (empty answer: close this view)."""
        with self.lock:
            record = self._views[view_id]
            stack = self._stacks.get(record.user_id, [])
            action = (response or {}).get("response_action")
            if action is None:
                if response:
                    raise SlackProtocolError(f"view_submission answer without response_action: {response}")
                self._close(record.user_id, view_id)
            elif action == "errors":
                errors = response.get("errors") if response else None
                inputs = {b["block_id"] for b in record.blocks if b.get("type") == "input"}
                if not isinstance(errors, dict) or not errors or not set(errors) <= inputs:
                    raise SlackProtocolError(f"errors must name input block_ids of the view {sorted(inputs)}: {errors}")
                record.errors = {str(k): str(v) for k, v in errors.items()}
            elif action in ("update", "push"):
                try:
                    view = self._view_arg({"view": (response or {}).get("view")}, "modal")
                    if action == "update":
                        self._replace_view(record, view)
                    else:
                        self._push(record.user_id, view)
                except SlackError as err:
                    raise SlackProtocolError(f"response_action {action}: {err.code} {err.messages}") from None
            elif action == "clear":
                for view_id_ in list(stack):
                    self._views.pop(view_id_, None)
                self._stacks[record.user_id] = []
            else:
                raise SlackProtocolError(f"unknown response_action {action!r}")

    def close_view(self, user_ref: str) -> ViewRecord | None:
        """The user pressed Close/X on the top modal; returns the view that was closed."""
        user = self.user(user_ref)
        with self.lock:
            stack = self._stacks.get(user.id) or []
            if not stack:
                return None
            record = self._views[stack[-1]]
            if record.body.get("clear_on_close"):
                for view_id in stack:
                    self._views.pop(view_id, None)
                self._stacks[user.id] = []
            else:
                self._close(user.id, record.id)
            return record

    # --- state for tests and the console -----------------------------------------------------
    def messages(self, channel_ref: str) -> list[Message]:
        """Top-level messages of a conversation (plus broadcast replies), oldest first."""
        channel = self.channel(channel_ref)
        with self.lock:
            return [m for m in self._messages[channel.id] if m.in_channel]

    def all_messages(self, channel_ref: str) -> list[Message]:
        """Every message of a conversation including thread replies, oldest first."""
        channel = self.channel(channel_ref)
        with self.lock:
            return list(self._messages[channel.id])

    def thread(self, channel_ref: str, ts: str) -> list[Message]:
        channel = self.channel(channel_ref)
        with self.lock:
            return [m for m in self._messages[channel.id] if m.ts == ts or m.replies_to(ts)]

    def dm(self, user_ref: str) -> list[Message]:
        return self.all_messages(self.dm_channel(user_ref).id)

    def latest(self, ref: str) -> Message | None:
        found = self.all_messages(ref)
        return found[-1] if found else None

    def message(self, channel_ref: str, ts: str) -> Message:
        channel = self.channel(channel_ref)
        with self.lock:
            found = self._find(channel.id, ts)
        if found is None:
            raise KeyError(f"no message {ts} in {channel.id}")
        return found

    def ephemerals(self, user_ref: str) -> list[Ephemeral]:
        user = self.user(user_ref)
        with self.lock:
            return [e for e in self._ephemerals if e.user == user.id and not e.deleted]

    def views(self, user_ref: str) -> list[ViewRecord]:
        """The user's open modal stack, root first."""
        user = self.user(user_ref)
        with self.lock:
            return [self._views[v] for v in self._stacks.get(user.id, [])]

    def current_view(self, user_ref: str) -> ViewRecord | None:
        stack = self.views(user_ref)
        return stack[-1] if stack else None

    def view(self, view_id: str) -> ViewRecord:
        with self.lock:
            return self._views[view_id]

    def home(self, user_ref: str) -> ViewRecord | None:
        user = self.user(user_ref)
        with self.lock:
            home_id = self._homes.get(user.id)
            return self._views[home_id] if home_id else None

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "team": {"id": self.team_id, "domain": self.team_domain, "bot_user_id": self.bot_user_id},
                "users": [u.to_api(self.team_id) for u in self.users.values()],
                "channels": [
                    {
                        "id": c.id,
                        "name": c.name,
                        "is_im": c.is_im,
                        "is_mpim": c.kind == "mpim",
                        "is_private": c.kind in ("group", "mpim"),
                        "user": c.im_user,
                        "messages": [m.to_api(self.team_id) for m in self._messages[c.id]],
                    }
                    for c in self.channels.values()
                ],
                "ephemerals": [
                    {"channel": e.channel, "user": e.user, "ts": e.ts, "text": e.text, "blocks": e.blocks}
                    for e in self._ephemerals
                    if not e.deleted
                ],
                "modals": {u: [self.view_api(self._views[v]) for v in s] for u, s in self._stacks.items() if s},
                "homes": {u: self.view_api(self._views[v]) for u, v in self._homes.items()},
            }
