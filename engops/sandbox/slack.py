"""Local stand-in for the Slack Web API, `response_url`s, modals and the App Home.

It answers the Web API methods the bot uses at `/api/<method>` the way Slack does: HTTP 200
with `{"ok": false, "error": ...}` for API errors, HTTP 429 + `Retry-After` for rate limits,
form-encoded or JSON bodies (JSON only where Slack's spec says the method takes it), a bearer
bot token. It is stricter than it is lenient: blocks and views are checked with
`slack_sdk.models` plus the limits the SDK does not check, arguments Slack's spec does not
know are refused (Slack would silently drop them), trigger ids expire after 3 s and are
single-use. Tests and the console read its state back (messages, DMs, ephemerals, modal
stacks, App Home) through the query methods at the bottom of `SlackStandIn`.
"""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View
from werkzeug.wrappers import Request, Response

from engops.sandbox.base import FixedWindowLimiter, StandIn, json_response
from engops.sandbox.directory import Directory

MESSAGE_MAX_BLOCKS = 50
VIEW_MAX_BLOCKS = 100
MESSAGE_MAX_TEXT = 40_000
MODAL_STACK_MAX = 3
TRIGGER_TTL = 3.0
RESPONSE_URL_TTL = 30 * 60.0
RESPONSE_URL_MAX_USES = 5

POLICY_CHANNELS = ("general", "bt-engineering-access-manager", "infra-access-requests", "bt-integrations", "it-engops")

# Slack's documented tiers, as (limit, period seconds).
TIERS: dict[int, tuple[int, float]] = {1: (1, 60.0), 2: (20, 60.0), 3: (50, 60.0), 4: (100, 60.0)}


class SlackError(Exception):
    """An API error Slack reports as `{"ok": false, "error": code}` (HTTP 200 unless said)."""

    def __init__(self, code: str, *messages: str, status: int = 200) -> None:
        super().__init__(code)
        self.code = code
        self.messages = list(messages)
        self.status = status


class SlackProtocolError(Exception):
    """The app answered Slack in a way Slack would not accept (shown as an error to the user)."""


# --------------------------------------------------------------------------------------------
# The Web API methods the stand-in implements: argument names (checked against Slack's spec by
# tests/integration/test_slack_contract.py), whether a JSON body is read, whether GET is allowed
# (read methods) and the rate-limit tier ("post" = chat.postMessage's 1/s per channel).
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MethodSpec:
    args: frozenset[str]
    json_body: bool
    read: bool
    tier: int | str


def _spec(args: str, *, json_body: bool = True, read: bool = False, tier: int | str = 4) -> MethodSpec:
    return MethodSpec(frozenset(args.split()), json_body, read, tier)


# Bolt's per-request WebClient sends `team_id` (its context's team) with every call; Slack accepts
# it for every method although the (2020) spec does not list it. It must name this workspace.
COMMON_ARGS = frozenset({"team_id"})

_MESSAGE_ARGS = "channel text blocks attachments as_user link_names parse"
METHODS: dict[str, MethodSpec] = {
    "auth.test": _spec("", read=True),
    "chat.postMessage": _spec(
        f"{_MESSAGE_ARGS} thread_ts reply_broadcast unfurl_links unfurl_media mrkdwn username icon_emoji icon_url",
        tier="post",
    ),
    "chat.update": _spec(f"{_MESSAGE_ARGS} ts", tier=3),
    "chat.postEphemeral": _spec(f"{_MESSAGE_ARGS} user thread_ts username icon_emoji icon_url"),
    "chat.getPermalink": _spec("channel message_ts", json_body=False, read=True),
    "views.open": _spec("trigger_id view"),
    "views.push": _spec("trigger_id view"),
    "views.update": _spec("view_id external_id view hash"),
    "views.publish": _spec("user_id view hash"),
    "users.info": _spec("user include_locale", json_body=False, read=True),
    "users.lookupByEmail": _spec("email", json_body=False, read=True, tier=3),
    "conversations.open": _spec("channel users return_im", tier=3),
    "conversations.history": _spec("channel latest oldest inclusive limit cursor", json_body=False, read=True, tier=3),
    "conversations.replies": _spec(
        "channel ts latest oldest inclusive limit cursor", json_body=False, read=True, tier=3
    ),
}


# --------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------
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

    def to_api(self, team_id: str) -> dict[str, Any]:
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
                "email": self.email,
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

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

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
        return out


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
        values: dict[str, dict[str, dict[str, Any]]] = {}
        for block, element in stateful_elements(self.blocks):
            block_id, action_id = block["block_id"], element["action_id"]
            chosen = self.user_values.get(block_id, {}).get(action_id)
            values.setdefault(block_id, {})[action_id] = chosen if chosen is not None else initial_state(element)
        return values


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


@dataclass
class _MethodLimit:
    limit: int
    period: float
    per_channel: bool
    windows: dict[str, FixedWindowLimiter] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Block Kit checks (slack_sdk.models plus the limits and rules it does not enforce)
# --------------------------------------------------------------------------------------------
_BUTTON_TYPES = {"button", "workflow_button"}
_SDK_ERRORS = (SlackObjectFormationError, TypeError, ValueError, KeyError, AttributeError)


def _dropped_keys(original: Any, parsed: Any, path: str) -> Iterator[str]:
    """Keys present in `original` that the SDK model did not keep: fields Slack does not know."""
    if isinstance(original, dict):
        if not isinstance(parsed, dict):
            yield path
            return
        for key, value in original.items():
            if value is None:
                continue
            if key not in parsed:
                yield f"{path}/{key}"
            else:
                yield from _dropped_keys(value, parsed[key], f"{path}/{key}")
    elif isinstance(original, list):
        if not isinstance(parsed, list) or len(parsed) != len(original):
            yield path
            return
        for i, (a, b) in enumerate(zip(original, parsed, strict=True)):
            yield from _dropped_keys(a, b, f"{path}/{i}")


def _is_plain_text(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("type") == "plain_text"


def _elements_of(block: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(block.get("accessory"), dict):
        found.append(block["accessory"])
    if isinstance(block.get("element"), dict):
        found.append(block["element"])
    if block.get("type") == "actions":
        found.extend(e for e in block.get("elements", []) if isinstance(e, dict))
    return found


def _extra_block_rules(block: dict[str, Any], where: str) -> Iterator[str]:
    kind = block.get("type")
    if kind == "header" and not _is_plain_text(block.get("text")):
        yield f"[ERROR] must be one of the following: plain_text [json-pointer:{where}/text/type]"
    if kind == "input" and not _is_plain_text(block.get("label")):
        yield f"[ERROR] must be one of the following: plain_text [json-pointer:{where}/label/type]"
    if kind == "actions" and not 1 <= len(block.get("elements") or []) <= 25:
        yield f"[ERROR] must have between 1 and 25 items [json-pointer:{where}/elements]"
    if kind == "context" and not 1 <= len(block.get("elements") or []) <= 10:
        yield f"[ERROR] must have between 1 and 10 items [json-pointer:{where}/elements]"
    action_ids: set[str] = set()
    for element in _elements_of(block):
        if element.get("type") in _BUTTON_TYPES and not _is_plain_text(element.get("text")):
            yield f"[ERROR] button text must be plain_text [json-pointer:{where}]"
        action_id = element.get("action_id")
        if action_id:
            if action_id in action_ids:
                yield f"[ERROR] duplicate action_id '{action_id}' in one block [json-pointer:{where}]"
            action_ids.add(action_id)


def block_errors(blocks: Any, max_blocks: int, pointer: str = "/blocks") -> list[str]:
    """Slack-style `[ERROR] ... [json-pointer:...]` messages; empty when the blocks are valid."""
    if not isinstance(blocks, list):
        return [f"[ERROR] must be an array [json-pointer:{pointer}]"]
    errors: list[str] = []
    if len(blocks) > max_blocks:
        errors.append(f"[ERROR] no more than {max_blocks} items allowed [json-pointer:{pointer}]")
    block_ids: set[str] = set()
    for i, raw in enumerate(blocks):
        where = f"{pointer}/{i}"
        if not isinstance(raw, dict) or "type" not in raw:
            errors.append(f"[ERROR] missing required field: type [json-pointer:{where}]")
            continue
        try:
            parsed = Block.parse(raw)
            if parsed is None:
                errors.append(f"[ERROR] unsupported type: {raw['type']} [json-pointer:{where}/type]")
                continue
            parsed.validate_json()
            as_dict = parsed.to_dict()
        except _SDK_ERRORS as exc:
            errors.append(f"[ERROR] {exc} [json-pointer:{where}]")
            continue
        errors.extend(f"[ERROR] unsupported field [json-pointer:{p}]" for p in _dropped_keys(raw, as_dict, where))
        errors.extend(_extra_block_rules(raw, where))
        block_id = raw.get("block_id")
        if block_id:
            if block_id in block_ids:
                errors.append(f"[ERROR] duplicate block_id '{block_id}' [json-pointer:{where}/block_id]")
            block_ids.add(block_id)
    return errors


def view_errors(view: dict[str, Any], kind: str) -> list[str]:
    if view.get("type") != kind:
        return [f"[ERROR] view type must be {kind} [json-pointer:/view/type]"]
    errors = block_errors(view.get("blocks"), VIEW_MAX_BLOCKS, "/view/blocks")
    if not errors:
        try:
            parsed = View(**view)
            parsed.validate_json()
            as_dict = parsed.to_dict()
            shell = {k: v for k, v in view.items() if k != "blocks"}
            errors.extend(
                f"[ERROR] unsupported field [json-pointer:{p}]" for p in _dropped_keys(shell, as_dict, "/view")
            )
        except _SDK_ERRORS as exc:
            errors.append(f"[ERROR] {exc} [json-pointer:/view]")
    for key in ("title", "submit", "close"):
        if key in view and not _is_plain_text(view[key]):
            errors.append(f"[ERROR] must be one of the following: plain_text [json-pointer:/view/{key}]")
    if kind == "modal":
        if "title" not in view:
            errors.append("[ERROR] missing required field: title [json-pointer:/view]")
        has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks") or [])
        if has_input and "submit" not in view:
            errors.append("[ERROR] submit is required when input blocks are present [json-pointer:/view/submit]")
    if len(str(view.get("external_id", ""))) > 255:
        errors.append("[ERROR] external_id cannot exceed 255 characters [json-pointer:/view/external_id]")
    return errors


_STATE_FIELDS: dict[str, tuple[str, str]] = {
    # element type -> (field in state.values, the element's initial_* field)
    "plain_text_input": ("value", "initial_value"),
    "email_text_input": ("value", "initial_value"),
    "url_text_input": ("value", "initial_value"),
    "number_input": ("value", "initial_value"),
    "static_select": ("selected_option", "initial_option"),
    "external_select": ("selected_option", "initial_option"),
    "radio_buttons": ("selected_option", "initial_option"),
    "multi_static_select": ("selected_options", "initial_options"),
    "multi_external_select": ("selected_options", "initial_options"),
    "checkboxes": ("selected_options", "initial_options"),
    "users_select": ("selected_user", "initial_user"),
    "multi_users_select": ("selected_users", "initial_users"),
    "conversations_select": ("selected_conversation", "initial_conversation"),
    "multi_conversations_select": ("selected_conversations", "initial_conversations"),
    "channels_select": ("selected_channel", "initial_channel"),
    "multi_channels_select": ("selected_channels", "initial_channels"),
    "datepicker": ("selected_date", "initial_date"),
    "timepicker": ("selected_time", "initial_time"),
}
MULTI_TYPES = {t for t, (f, _) in _STATE_FIELDS.items() if f.endswith("s") and f.startswith("selected_")}


def state_field(element_type: str) -> str:
    return _STATE_FIELDS[element_type][0]


def initial_state(element: dict[str, Any]) -> dict[str, Any]:
    value_field, initial_field = _STATE_FIELDS[element["type"]]
    initial = element.get(initial_field)
    if initial is None and element["type"] in MULTI_TYPES:
        initial = []
    return {"type": element["type"], value_field: initial}


def stateful_elements(blocks: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for block in blocks:
        for element in _elements_of(block):
            if element.get("type") in _STATE_FIELDS and "action_id" in element and "block_id" in block:
                yield block, element


# --------------------------------------------------------------------------------------------
# Rendering blocks as plain text (for tests reading DMs, and the console's text view)
# --------------------------------------------------------------------------------------------
def _text_of(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("text", ""))
    return str(obj or "")


def _rich_text(elements: list[Any]) -> str:
    parts: list[str] = []
    for el in elements:
        if not isinstance(el, dict):
            continue
        kind = el.get("type")
        if kind in ("text", "link"):
            parts.append(str(el.get("text") or el.get("url", "")))
        elif kind == "user":
            parts.append(f"<@{el.get('user_id')}>")
        elif kind == "channel":
            parts.append(f"<#{el.get('channel_id')}>")
        elif kind == "emoji":
            parts.append(f":{el.get('name')}:")
        elif "elements" in el:
            parts.append(_rich_text(el["elements"]))
    return "".join(parts)


def blocks_as_text(blocks: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind in ("header", "section"):
            if block.get("text"):
                lines.append(_text_of(block["text"]))
            lines.extend(_text_of(f) for f in block.get("fields", []))
        elif kind == "context":
            lines.append(" ".join(_text_of(e) if e.get("type") != "image" else "" for e in block["elements"]).strip())
        elif kind == "divider":
            lines.append("---")
        elif kind == "rich_text":
            lines.append(_rich_text(block.get("elements", [])))
        elif kind == "image":
            lines.append(f"[image: {block.get('alt_text', '')}]")
        elif kind == "input":
            lines.append(f"{_text_of(block.get('label'))}:")
        labels = [f"[{_text_of(e.get('text'))}]" for e in _elements_of(block) if e.get("type") in _BUTTON_TYPES]
        if labels:
            lines.append(" ".join(labels))
    return "\n".join(line for line in lines if line)


def message_as_text(text: str, blocks: list[dict[str, Any]]) -> str:
    """What a person reads: the blocks when there are any (Slack then shows `text` only in notifications)."""
    return blocks_as_text(blocks) if blocks else text


def button_labels(blocks: list[dict[str, Any]]) -> list[str]:
    return [_text_of(e.get("text")) for b in blocks for e in _elements_of(b) if e.get("type") in _BUTTON_TYPES]


# --------------------------------------------------------------------------------------------
# Argument coercion
# --------------------------------------------------------------------------------------------
def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes")


def _as_json(value: Any, error: str, what: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise SlackError(error, f"[ERROR] {what} is not valid JSON: {exc.msg}") from None
    return value


def _cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def _from_cursor(cursor: str) -> str:
    try:
        decoded = base64.b64decode(cursor.encode(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        raise SlackError("invalid_cursor") from None
    if not decoded.startswith("next_ts:"):
        raise SlackError("invalid_cursor")
    return decoded.removeprefix("next_ts:")


def _beyond(key: tuple[int, int], edge: tuple[int, int], sign: int, inclusive: bool) -> bool:
    """key after edge (sign 1) or before it (sign -1), or equal when inclusive."""
    return (key > edge if sign > 0 else key < edge) or (inclusive and key == edge)


def _ts_key(ts: str) -> tuple[int, int]:
    sec, _, frac = ts.partition(".")
    return int(sec), int(frac or 0)


# --------------------------------------------------------------------------------------------
# The stand-in
# --------------------------------------------------------------------------------------------
class SlackStandIn(StandIn):
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
    ) -> None:
        super().__init__()
        self.bot_token = bot_token
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
        self._method_limits: dict[str, _MethodLimit] = {}
        self._app_level_methods: set[str] = set()
        self.add_user(bot_user_id, bot_name, "EngOps Bot", "", is_bot=True)
        for method, spec in METHODS.items():
            self.route(f"/api/{method}", ["GET", "POST"], self._api_handler(method, spec))
        self.route("/response/<path:token>", ["POST"], self._handle_response_url)

    @classmethod
    def from_directory(cls, directory: Directory, **kwargs: Any) -> SlackStandIn:
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

    # --- configuration -----------------------------------------------------------------
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

    def add_channel(self, name: str, *, channel_id: str | None = None, bot_member: bool = True) -> Channel:
        with self.lock:
            name = name.lstrip("#")
            existing = self._channel_by_name(name)
            if existing:
                return existing
            channel = Channel(channel_id or f"C{self._next_number():08d}", name, bot_member=bot_member)
            self.channels[channel.id] = channel
            self._messages[channel.id] = []
            return channel

    def add_app_level_method(self, method: str, handler: Callable[[Request], Response]) -> None:
        """A Web API method called with an app-level token (`xapp-…`) instead of the bot token, such as
        Socket Mode's apps.connections.open (engops/sandbox/slack_socket.py); `handler` checks the token."""
        with self.lock:
            self._app_level_methods.add(method)
            self.route(f"/api/{method}", ["POST"], handler)

    def set_method_limit(self, method: str, limit: int, period: float = 60.0, *, per_channel: bool = False) -> None:
        if method not in METHODS:
            raise KeyError(method)
        with self.lock:
            self._method_limits[method] = _MethodLimit(limit, period, per_channel)

    def clear_method_limits(self) -> None:
        with self.lock:
            self._method_limits.clear()

    def use_slack_rate_limits(self) -> None:
        """Slack's published limits: chat.postMessage ~1/s per channel, the rest by tier."""
        for method, spec in METHODS.items():
            if spec.tier == "post":
                self.set_method_limit(method, 1, 1.0, per_channel=True)
            else:
                limit, period = TIERS[int(spec.tier)]
                self.set_method_limit(method, limit, period)

    # --- ids -------------------------------------------------------------------------------
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

    # --- directory lookups -----------------------------------------------------------------
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

    def channel(self, ref: str) -> Channel:
        """A conversation by id (C…/D…), by name ("#general", "general") or a user's DM (U…/handle/email)."""
        with self.lock:
            if ref in self.channels:
                return self.channels[ref]
            if ref.startswith("D") and ("U" + ref[1:]) in self.users:
                return self.dm_channel("U" + ref[1:])
            by_name = self._channel_by_name(ref.lstrip("#"))
            if by_name:
                return by_name
        if ref.startswith("#"):
            raise KeyError(f"no channel {ref!r}")
        return self.dm_channel(ref)

    def _resolve_for_api(self, ref: str, *, names: bool, users: bool) -> Channel:
        """Channel resolution as the Web API does it: ids always; names and U… ids only where allowed."""
        with self.lock:
            if ref in self.channels:
                return self.channels[ref]
            if ref.startswith("D") and ("U" + ref[1:]) in self.users:
                return self.dm_channel("U" + ref[1:])
            if users and ref in self.users and not self.users[ref].is_bot:
                return self.dm_channel(ref)
            if names:
                by_name = self._channel_by_name(ref.lstrip("#"))
                if by_name:
                    return by_name
        raise SlackError("channel_not_found")

    # --- HTTP plumbing -------------------------------------------------------------------
    def authorize(self, request: Request) -> Response | None:
        if not request.path.startswith("/api/"):
            return None
        if request.path.removeprefix("/api/") in self._app_level_methods:
            return None
        try:
            token = request_token(request)
        except SlackError as err:
            return _api_error(err.code)
        if not token:
            return _api_error("not_authed")
        if token != self.bot_token:
            return _api_error("not_allowed_token_type" if token.startswith("xapp-") else "invalid_auth")
        return None

    def error_response(self, status: int, message: str) -> Response:
        if status == 404:
            return _api_error("unknown_method", status=404)
        return _api_error("internal_error" if status >= 500 else message, status=status)

    def rate_limited_response(self, reset: float) -> Response:
        retry = max(1, int(reset - time.time() + 0.999))
        return json_response({"ok": False, "error": "ratelimited"}, 429, {"Retry-After": str(retry)})

    def _api_handler(self, method: str, spec: MethodSpec) -> Callable[[Request], Response]:
        impl: Callable[[dict[str, Any]], dict[str, Any]] = getattr(self, "_m_" + method.replace(".", "_"))

        def handle(request: Request) -> Response:
            try:
                args = self._read_args(request, method, spec)
                limited = self._take_method_limit(method, args)
                if limited is not None:
                    return limited
                with self.lock:
                    result = impl(args)
            except SlackError as err:
                return _api_error(err.code, *err.messages, status=err.status)
            return json_response({"ok": True, **result})

        handle.__name__ = "api_" + method.replace(".", "_")
        return handle

    def _read_args(self, request: Request, method: str, spec: MethodSpec) -> dict[str, Any]:
        if request.method == "GET" and not spec.read:
            raise SlackError("invalid_arguments", f"[ERROR] {method} must be called with POST")
        args: dict[str, Any] = dict(request.args.items())
        if request.method == "POST":
            if request.mimetype == "application/json":
                if spec.json_body:
                    body = _as_json(request.get_data(as_text=True) or "{}", "invalid_json", "the body")
                    if not isinstance(body, dict):
                        raise SlackError("json_not_object")
                    args.update(body)
                # Slack ignores JSON bodies for methods that only take form arguments.
            else:
                args.update(request.form.items())
        args.pop("token", None)
        team_id = args.pop("team_id", None)
        if team_id not in (None, "", self.team_id):
            raise SlackError("team_access_not_granted")
        unknown = sorted(set(args) - spec.args)
        if unknown:
            raise SlackError(
                "invalid_arguments",
                *(f"[ERROR] unsupported argument '{name}' (not in the Web API spec) for {method}" for name in unknown),
            )
        return {k: v for k, v in args.items() if v is not None}

    def _take_method_limit(self, method: str, args: dict[str, Any]) -> Response | None:
        with self.lock:
            rule = self._method_limits.get(method)
            if rule is None:
                return None
            key = str(args.get("channel", "")) if rule.per_channel else ""
            if key not in rule.windows:
                rule.windows[key] = FixedWindowLimiter(rule.limit, rule.period)
            limiter = rule.windows[key]
        allowed, _, reset = limiter.take()
        return None if allowed else self.rate_limited_response(reset)

    # --- message content ---------------------------------------------------------------------
    def _content(self, args: dict[str, Any], *, required: bool = True) -> tuple[str, list[Any], list[Any]]:
        text = str(args.get("text", ""))
        blocks: list[Any] = []
        if "blocks" in args:
            blocks = _as_json(args["blocks"], "invalid_blocks_format", "blocks")
            if not isinstance(blocks, list):
                raise SlackError("invalid_blocks_format", "[ERROR] must be an array [json-pointer:/blocks]")
            problems = block_errors(blocks, MESSAGE_MAX_BLOCKS)
            if problems:
                raise SlackError("invalid_blocks", *problems)
        attachments: list[Any] = []
        if "attachments" in args:
            attachments = _as_json(args["attachments"], "invalid_attachments", "attachments")
            if not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments):
                raise SlackError("invalid_attachments")
            if len(attachments) > 100:
                raise SlackError("too_many_attachments")
        if required and not text.strip() and not blocks and not attachments:
            raise SlackError("no_text")
        if len(text) > MESSAGE_MAX_TEXT:
            raise SlackError("msg_too_long")
        return text, self._fill_ids(blocks), attachments

    def _fill_ids(self, blocks: list[Any]) -> list[dict[str, Any]]:
        """Slack gives every block a block_id and every interactive element an action_id."""
        filled: list[dict[str, Any]] = []
        for block in blocks:
            block = json.loads(json.dumps(block))
            block.setdefault("block_id", self._random_id(5))
            for element in _elements_of(block):
                if element.get("type") in _STATE_FIELDS or element.get("type") in _BUTTON_TYPES | {"overflow"}:
                    element.setdefault("action_id", self._random_id(5))
            filled.append(block)
        return filled

    def _require(self, args: dict[str, Any], name: str, error: str = "invalid_arguments") -> str:
        value = args.get(name)
        if value is None or str(value) == "":
            raise SlackError(error, f"[ERROR] missing required field: {name}")
        return str(value)

    def _can_post(self, channel: Channel) -> None:
        if not channel.is_im and not channel.bot_member:
            raise SlackError("not_in_channel")

    def _find(self, channel_id: str, ts: str) -> Message | None:
        for message in self._messages.get(channel_id, []):
            if message.ts == ts:
                return message
        return None

    def _append(self, message: Message) -> Message:
        self._messages[message.channel].append(message)
        return message

    # --- Web API methods ----------------------------------------------------------------------
    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_domain,
            "user": self.users[self.bot_user_id].name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_for_api(self._require(args, "channel", "channel_not_found"), names=True, users=True)
        self._can_post(channel)
        text, blocks, attachments = self._content(args)
        thread_ts = str(args["thread_ts"]) if args.get("thread_ts") else None
        message = self._append(
            Message(
                channel.id,
                self._new_ts(),
                self.bot_user_id,
                text,
                blocks,
                attachments,
                thread_ts,
                self.bot_id,
                reply_broadcast=_as_bool(args.get("reply_broadcast", False)),
            )
        )
        return {"channel": channel.id, "ts": message.ts, "message": message.to_api(self.team_id)}

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_for_api(self._require(args, "channel", "channel_not_found"), names=False, users=False)
        message = self._find(channel.id, self._require(args, "ts", "message_not_found"))
        if message is None:
            raise SlackError("message_not_found")
        if message.user != self.bot_user_id:
            raise SlackError("cant_update_message")
        text, blocks, attachments = self._content(args, required=False)
        new_text = text if "text" in args else None
        new_blocks = blocks if "blocks" in args else None
        new_attachments = attachments if "attachments" in args else None
        if (
            not (new_text if new_text is not None else message.text).strip()
            and not (new_blocks if new_blocks is not None else message.blocks)
            and not (new_attachments if new_attachments is not None else message.attachments)
        ):
            raise SlackError("no_text")
        self._edit(message, new_text, new_blocks, new_attachments)
        return {"channel": channel.id, "ts": message.ts, "text": message.text, "message": message.to_api(self.team_id)}

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

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_for_api(self._require(args, "channel", "channel_not_found"), names=True, users=False)
        user_id = self._require(args, "user", "user_not_in_channel")
        user = self.users.get(user_id)
        if user is None or user.is_bot or (channel.is_im and channel.im_user != user_id):
            raise SlackError("user_not_in_channel")
        self._can_post(channel)
        text, blocks, _ = self._content(args)
        ephemeral = Ephemeral(channel.id, user_id, self._new_ts(), text, blocks, args.get("thread_ts"))
        self._ephemerals.append(ephemeral)
        return {"message_ts": ephemeral.ts}

    def _m_chat_getPermalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_for_api(self._require(args, "channel", "channel_not_found"), names=False, users=False)
        message = self._find(channel.id, self._require(args, "message_ts", "message_not_found"))
        if message is None:
            raise SlackError("message_not_found")
        return {"channel": channel.id, "permalink": self.permalink(message)}

    def permalink(self, message: Message) -> str:
        link = f"https://{self.team_domain}.slack.com/archives/{message.channel}/p{message.ts.replace('.', '')}"
        if message.is_reply:
            link += f"?thread_ts={message.thread_ts}&cid={message.channel}"
        return link

    def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(self._require(args, "user", "user_not_found"))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": user.to_api(self.team_id)}

    def _m_users_lookupByEmail(self, args: dict[str, Any]) -> dict[str, Any]:
        email = self._require(args, "email", "users_not_found").lower()
        for user in self.users.values():
            if user.email and user.email.lower() == email:
                return {"user": user.to_api(self.team_id)}
        raise SlackError("users_not_found")

    def _m_conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("channel"):
            channel = self._resolve_for_api(str(args["channel"]), names=False, users=False)
            if not channel.is_im:
                raise SlackError("method_not_supported_for_channel_type")
        else:
            users = [u for u in str(args.get("users", "")).split(",") if u.strip()]
            if not users:
                raise SlackError("users_list_not_supplied")
            if len(users) > 1:
                raise SlackError("invalid_arguments", "[ERROR] the stand-in opens 1:1 DMs only")
            user = self.users.get(users[0].strip())
            if user is None or user.is_bot:
                raise SlackError("user_not_found")
            if user.deleted:
                raise SlackError("user_disabled")
            channel = self.dm_channel(user.id)
        if _as_bool(args.get("return_im", False)):
            return {"channel": {"id": channel.id, "is_im": True, "user": channel.im_user, "is_user_deleted": False}}
        return {"channel": {"id": channel.id}}

    def _readable(self, args: dict[str, Any]) -> Channel:
        channel = self._resolve_for_api(self._require(args, "channel", "channel_not_found"), names=False, users=False)
        if not channel.is_im and not channel.bot_member:
            raise SlackError("not_in_channel")
        return channel

    def _page(self, messages: list[Message], args: dict[str, Any], newest_first: bool) -> dict[str, Any]:
        inclusive = _as_bool(args.get("inclusive", False))
        for bound, sign in (("oldest", 1), ("latest", -1)):
            if args.get(bound):
                try:
                    edge = _ts_key(str(args[bound]))
                except ValueError:
                    raise SlackError(f"invalid_ts_{bound}") from None
                messages = [m for m in messages if _beyond(_ts_key(m.ts), edge, sign, inclusive)]
        ordered = sorted(messages, key=lambda m: _ts_key(m.ts), reverse=newest_first)
        if args.get("cursor"):
            start = _ts_key(_from_cursor(str(args["cursor"])))
            ordered = [m for m in ordered if (_ts_key(m.ts) <= start if newest_first else _ts_key(m.ts) >= start)]
        try:
            limit = max(1, min(int(args.get("limit", 100)), 999))
        except ValueError:
            raise SlackError("invalid_limit") from None
        page, rest = ordered[:limit], ordered[limit:]
        return {
            "messages": [self._with_thread_info(m) for m in page],
            "has_more": bool(rest),
            "response_metadata": {"next_cursor": _cursor(rest[0].ts) if rest else ""},
        }

    def _with_thread_info(self, message: Message) -> dict[str, Any]:
        out = message.to_api(self.team_id)
        replies = [m for m in self._messages[message.channel] if m.is_reply and m.thread_ts == message.ts]
        if replies:
            out.update(
                thread_ts=message.ts,
                reply_count=len(replies),
                latest_reply=replies[-1].ts,
                reply_users=sorted({m.user for m in replies}),
            )
        return out

    def _m_conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._readable(args)
        top = [m for m in self._messages[channel.id] if not m.is_reply or m.reply_broadcast]
        return {
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
            **self._page(top, args, newest_first=True),
        }

    def _m_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._readable(args)
        anchor = self._find(channel.id, self._require(args, "ts", "thread_not_found"))
        if anchor is None:
            raise SlackError("thread_not_found")
        parent_ts = anchor.thread_ts if anchor.is_reply and anchor.thread_ts else anchor.ts
        parent = self._find(channel.id, parent_ts)
        if parent is None:
            raise SlackError("thread_not_found")
        thread = [parent] + [m for m in self._messages[channel.id] if m.is_reply and m.thread_ts == parent.ts]
        return self._page(thread, args, newest_first=False)

    # --- views -------------------------------------------------------------------------------
    def _view_arg(self, args: dict[str, Any], kind: str) -> dict[str, Any]:
        raw = args.get("view")
        view = _as_json(raw, "invalid_arguments", "view") if raw is not None else None
        if not isinstance(view, dict):
            raise SlackError("invalid_arguments", "[ERROR] missing required field: view")
        problems = view_errors(view, kind)
        if problems:
            raise SlackError("invalid_arguments", *problems)
        view = dict(view)
        view["blocks"] = self._fill_ids(view["blocks"])
        return view

    def _check_external_id(self, view: dict[str, Any], except_id: str | None = None) -> None:
        external = view.get("external_id")
        if external and any(v.external_id == external and v.id != except_id for v in self._views.values()):
            raise SlackError("duplicate_external_id")

    def _exchange_trigger(self, args: dict[str, Any]) -> str:
        trigger_id = self._require(args, "trigger_id")
        trigger = self._triggers.get(trigger_id)
        if trigger is None:
            raise SlackError("invalid_trigger_id")
        if trigger.used:
            raise SlackError("exchanged_trigger_id")
        if self.clock() - trigger.issued_at > self.trigger_ttl:
            raise SlackError("expired_trigger_id")
        trigger.used = True
        return trigger.user_id

    def _new_view(self, user_id: str, body: dict[str, Any], root: str | None, previous: str | None) -> ViewRecord:
        view_id = f"V{self._next_number():09d}"
        record = ViewRecord(view_id, user_id, body, self._new_hash(), root or view_id, previous)
        self._views[view_id] = record
        return record

    def _m_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view = self._view_arg(args, "modal")
        self._check_external_id(view)
        user_id = self._exchange_trigger(args)
        for old in self._stacks.get(user_id, []):
            self._views.pop(old, None)
        record = self._new_view(user_id, view, None, None)
        self._stacks[user_id] = [record.id]
        return {"view": self.view_api(record)}

    def _m_views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        view = self._view_arg(args, "modal")
        self._check_external_id(view)
        user_id = self._exchange_trigger(args)
        return {"view": self.view_api(self._push(user_id, view))}

    def _push(self, user_id: str, view: dict[str, Any]) -> ViewRecord:
        stack = self._stacks.get(user_id) or []
        if not stack:
            raise SlackError("not_found", "[ERROR] no modal is open to push onto")
        if len(stack) >= MODAL_STACK_MAX:
            raise SlackError("push_limit_reached")
        record = self._new_view(user_id, view, stack[0], stack[-1])
        stack.append(record.id)
        return record

    def _m_views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        record: ViewRecord | None = None
        if args.get("view_id"):
            record = self._views.get(str(args["view_id"]))
        elif args.get("external_id"):
            record = next((v for v in self._views.values() if v.external_id == args["external_id"]), None)
        else:
            raise SlackError("invalid_arguments", "[ERROR] view_id or external_id is required")
        if record is None:
            raise SlackError("not_found")
        view = self._view_arg(args, record.type)
        self._check_external_id(view, except_id=record.id)
        if args.get("hash") and args["hash"] != record.hash:
            raise SlackError("hash_conflict")
        self._replace_view(record, view)
        return {"view": self.view_api(record)}

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

    def _m_views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(self._require(args, "user_id"))
        if user is None or user.is_bot:
            raise SlackError("user_not_found")
        view = self._view_arg(args, "home")
        home_id = self._homes.get(user.id)
        if home_id is None:
            record = self._new_view(user.id, view, None, None)
            self._homes[user.id] = record.id
        else:
            record = self._views[home_id]
            if args.get("hash") and args["hash"] != record.hash:
                raise SlackError("hash_conflict")
            self._replace_view(record, view)
        return {"view": self.view_api(record)}

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

    # --- response_url ------------------------------------------------------------------------
    def _handle_response_url(self, request: Request, token: str) -> Response:
        with self.lock:
            hook = self._response_urls.get(token)
            if hook is None:
                return Response("no_service", status=404, content_type="text/plain")
            if self.clock() - hook.issued_at > RESPONSE_URL_TTL:
                return Response("expired_url", status=404, content_type="text/plain")
            if hook.uses >= RESPONSE_URL_MAX_USES:
                return Response("used_url", status=404, content_type="text/plain")
            try:
                payload = json.loads(request.get_data(as_text=True) or "{}")
                if not isinstance(payload, dict):
                    raise SlackError("invalid_payload", status=400)
                hook.uses += 1
                self._respond(hook, payload)
            except json.JSONDecodeError:
                return Response("invalid_payload", status=400, content_type="text/plain")
            except SlackError as err:
                return Response(err.code, status=400 if err.status == 200 else err.status, content_type="text/plain")
        return Response("ok", status=200, content_type="text/html")

    def _respond(self, hook: ResponseUrl, payload: dict[str, Any]) -> None:
        original = self._find(hook.channel_id, hook.message_ts) if hook.message_ts else None
        original_eph = next((e for e in self._ephemerals if e.ts == hook.ephemeral_ts), None)
        if _as_bool(payload.get("delete_original", False)):
            if original is not None:
                self._messages[hook.channel_id].remove(original)
            elif original_eph is not None:
                original_eph.deleted = True
            else:
                raise SlackError("message_not_found", status=404)
            return
        text, blocks, _ = self._content(payload)
        if _as_bool(payload.get("replace_original", False)) and (original or original_eph):
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

    # --- what the driver (acting as Slack's client) uses ---------------------------------------
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

    def _close(self, user_id: str, view_id: str) -> None:
        stack = self._stacks.get(user_id, [])
        if view_id in stack:
            stack.remove(view_id)
        self._views.pop(view_id, None)

    # --- state for tests and the console -------------------------------------------------------
    def messages(self, channel_ref: str) -> list[Message]:
        """Top-level messages of a conversation (plus broadcast replies), oldest first."""
        channel = self.channel(channel_ref)
        with self.lock:
            return [m for m in self._messages[channel.id] if not m.is_reply or m.reply_broadcast]

    def all_messages(self, channel_ref: str) -> list[Message]:
        """Every message of a conversation including thread replies, oldest first."""
        channel = self.channel(channel_ref)
        with self.lock:
            return list(self._messages[channel.id])

    def thread(self, channel_ref: str, ts: str) -> list[Message]:
        channel = self.channel(channel_ref)
        with self.lock:
            return [m for m in self._messages[channel.id] if m.ts == ts or (m.is_reply and m.thread_ts == ts)]

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


def request_token(request: Request) -> str | None:
    """The token a Web API call carries (`Authorization: Bearer …`, or `token` in a form body); None if none."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise SlackError("invalid_auth")
        return token
    if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        return request.form.get("token") or None
    return None


def _api_error(code: str, *messages: str, status: int = 200) -> Response:
    body: dict[str, Any] = {"ok": False, "error": code}
    if messages:
        body["response_metadata"] = {"messages": list(messages)}
    return json_response(body, status)
