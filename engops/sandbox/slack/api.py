"""The Slack stand-in's Web API, served at `/api/<method>`, and its `response_url`s.

It answers the methods the bot uses the way Slack does: HTTP 200 with `{"ok": false, "error": ...}`
for API errors, HTTP 429 + `Retry-After` for rate limits, form-encoded or JSON bodies (JSON only
where Slack's spec says the method takes it), a bearer bot token. It is stricter than it is
lenient: blocks and views are checked (checks.py), arguments Slack's spec does not know are refused
(Slack would silently drop them), trigger ids expire after 3 s and are single-use. Each method needs the
OAuth scopes Slack's docs name (scopes.py): a token without one is answered `missing_scope`, and every
answer carries the token's scopes in `x-oauth-scopes`, as Slack's do.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from engops.sandbox.base import FixedWindowLimiter, json_response
from engops.sandbox.slack.arguments import as_bool, as_json, require
from engops.sandbox.slack.errors import SlackError
from engops.sandbox.slack.model import Channel, Ephemeral, Message, ViewRecord
from engops.sandbox.slack.scopes import (
    EMAIL_SCOPE,
    HISTORY_SCOPES,
    INFO_SCOPES,
    METHOD_SCOPES,
    OPEN_SCOPES,
    require_scope,
    scope_headers,
)
from engops.sandbox.slack.workspace import SlackWorkspace

RESPONSE_URL_TTL = 30 * 60.0
RESPONSE_URL_MAX_USES = 5

# Slack's documented tiers, as (limit, period seconds).
TIERS: dict[int, tuple[int, float]] = {1: (1, 60.0), 2: (20, 60.0), 3: (50, 60.0), 4: (100, 60.0)}


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
    "conversations.info": _spec("channel include_locale include_num_members", json_body=False, read=True, tier=3),
    "reactions.add": _spec("channel name timestamp", tier=3),
}


@dataclass
class _MethodLimit:
    limit: int
    period: float
    per_channel: bool
    windows: dict[str, FixedWindowLimiter] = field(default_factory=dict)


class SlackStandIn(SlackWorkspace):
    """The workspace served over HTTP (a WSGI app). Takes SlackWorkspace's options (bot_token, bot_scopes,
    team_id, clock, trigger_ttl, base_url, ...); `issue_bot_token` makes a token with other scopes."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._method_limits: dict[str, _MethodLimit] = {}
        self._throttled: dict[str, list[int]] = {}  # method -> Retry-After of each 429 still to answer
        self._app_level_methods: set[str] = set()
        for method, spec in METHODS.items():
            self.route(f"/api/{method}", ["GET", "POST"], self._api_handler(method, spec))
        self.route("/response/<path:token>", ["POST"], self._handle_response_url)

    # --- configuration -----------------------------------------------------------------------
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
            self._throttled.clear()

    def rate_limit_next(self, method: str, retry_after: int, times: int = 1) -> None:
        """A rate-limit fault: the next `times` calls of `method` are answered 429 with `Retry-After: retry_after`
        (the app's other traffic used up the method's tier)."""
        if method not in METHODS:
            raise KeyError(method)
        with self.lock:
            self._throttled.setdefault(method, []).extend([retry_after] * times)

    def use_slack_rate_limits(self) -> None:
        """Slack's published limits: chat.postMessage ~1/s per channel, the rest by tier."""
        for method, spec in METHODS.items():
            if spec.tier == "post":
                self.set_method_limit(method, 1, 1.0, per_channel=True)
            else:
                limit, period = TIERS[int(spec.tier)]
                self.set_method_limit(method, limit, period)

    # --- HTTP plumbing -----------------------------------------------------------------------
    def authorize(self, request: Request) -> Response | None:
        if not request.path.startswith("/api/"):
            return None
        if request.path.removeprefix("/api/") in self._app_level_methods:
            return None
        return token_refusal(request, self.tokens, lambda token: token.startswith("xapp-"))

    def _dispatch(self, request: Request) -> Response:
        response = super()._dispatch(request)
        granted = self._granted(request)
        if granted is not None:
            response.headers.update(scope_headers(request.path.removeprefix("/api/"), granted))
        return response

    def _granted(self, request: Request) -> frozenset[str] | None:
        """The scopes of the bot token a Web API call carries; None when it carries no valid bot token."""
        if not request.path.startswith("/api/") or request.path.removeprefix("/api/") not in METHODS:
            return None
        try:
            token = request_token(request)
        except SlackError:
            return None
        with self.lock:
            return self.tokens.get(token or "")

    def error_response(self, status: int, message: str) -> Response:
        if status == 404:
            return api_error("unknown_method", status=404)
        return api_error("internal_error" if status >= 500 else message, status=status)

    def rate_limited_response(self, reset: float) -> Response:
        retry = max(1, int(reset - time.time() + 0.999))
        return json_response({"ok": False, "error": "ratelimited"}, 429, {"Retry-After": str(retry)})

    def _api_handler(self, method: str, spec: MethodSpec) -> Callable[[Request], Response]:
        impl: Callable[[dict[str, Any], frozenset[str]], dict[str, Any]] = getattr(
            self, "_m_" + method.replace(".", "_")
        )

        def handle(request: Request) -> Response:
            granted = self._granted(request) or frozenset()
            try:
                require_scope(granted, *METHOD_SCOPES[method])
                args = self._read_args(request, method, spec)
                limited = self._take_method_limit(method, args)
                if limited is not None:
                    return limited
                with self.lock:
                    result = impl(args, granted)
            except SlackError as err:
                return api_error(err.code, *err.messages, status=err.status, fields=err.fields)
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
                    body = as_json(request.get_data(as_text=True) or "{}", "invalid_json", "the body")
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
            throttled = self._throttled.get(method)
            if throttled:
                return self.rate_limited_response(time.time() + throttled.pop(0))
            rule = self._method_limits.get(method)
            if rule is None:
                return None
            key = str(args.get("channel", "")) if rule.per_channel else ""
            if key not in rule.windows:
                rule.windows[key] = FixedWindowLimiter(rule.limit, rule.period)
            limiter = rule.windows[key]
        allowed, _, reset = limiter.take()
        return None if allowed else self.rate_limited_response(reset)

    # --- conversations as the Web API finds them ---------------------------------------------
    def _resolve_for_api(self, ref: str, *, names: bool, users: bool) -> Channel:
        """Channel resolution as the Web API does it: ids always; names and U… ids only where allowed."""
        with self.lock:
            by_id = self._channel_by_id(ref)
            if by_id:
                return by_id
            if users and ref in self.users and not self.users[ref].is_bot:
                return self.dm_channel(ref)
            if names:
                by_name = self._channel_by_name(ref.lstrip("#"))
                if by_name:
                    return by_name
        raise SlackError("channel_not_found")

    def _check_membership(self, channel: Channel) -> None:
        """Slack refuses to post to or read a channel the bot is not in (a DM always has it)."""
        if not channel.is_im and not channel.bot_member:
            raise SlackError("not_in_channel")

    def _readable(self, args: dict[str, Any], granted: frozenset[str]) -> Channel:
        """The conversation to read, with the bot in it and the token holding the history scope of its type."""
        channel = self._resolve_for_api(require(args, "channel", "channel_not_found"), names=False, users=False)
        require_scope(granted, HISTORY_SCOPES[channel.kind])
        self._check_membership(channel)
        return channel

    # --- Web API methods ---------------------------------------------------------------------
    def _m_auth_test(self, args: dict[str, Any], granted: frozenset[str]) -> dict[str, Any]:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_domain,
            "user": self.users[self.bot_user_id].name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _m_chat_postMessage(self, args: dict[str, Any], granted: frozenset[str]) -> dict[str, Any]:
        channel = self._resolve_for_api(require(args, "channel", "channel_not_found"), names=True, users=True)
        self._check_membership(channel)
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
                reply_broadcast=as_bool(args.get("reply_broadcast", False)),
            )
        )
        return {"channel": channel.id, "ts": message.ts, "message": message.to_api(self.team_id)}

    def _m_chat_update(self, args: dict[str, Any], granted: frozenset[str]) -> dict[str, Any]:
        channel = self._resolve_for_api(require(args, "channel", "channel_not_found"), names=False, users=False)
        message = self._find(channel.id, require(args, "ts", "message_not_found"))
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

    def _m_chat_postEphemeral(self, args: dict[str, Any], granted: frozenset[str]) -> dict[str, Any]:
        channel = self._resolve_for_api(require(args, "channel", "channel_not_found"), names=True, users=False)
        user_id = require(args, "user", "user_not_in_channel")
        user = self.users.get(user_id)
        if user is None or user.is_bot or (channel.is_im and channel.im_user != user_id):
            raise SlackError("user_not_in_channel")
        if channel.mpim_members and user_id not in channel.mpim_members:
            raise SlackError("user_not_in_channel")
        self._check_membership(channel)
        text, blocks, _ = self._content(args)
        ephemeral = Ephemeral(channel.id, user_id, self._new_ts(), text, blocks, args.get("thread_ts"))
        self._ephemerals.append(ephemeral)
        return {"message_ts": ephemeral.ts}

    def _m_chat_getPermalink(self, args: dict[str, Any], granted: frozenset[str]) -> dict[str, Any]:
        channel = self._resolve_for_api(require(args, "channel", "channel_not_found"), names=False, users=False)
        message = self._find(channel.id, require(args, "message_ts", "message_not_found"))
        if message is None:
            raise SlackError("message_not_found")
        return {"channel": channel.id, "permalink": self.permalink(message)}

    def _m_users_info(self, args: dict[str, Any], granted: frozenset[str]) -> dict[str, Any]:
        user = self.users.get(require(args, "user", "user_not_found"))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": user.to_api(self.team_id, with_email=EMAIL_SCOPE in granted)}

    def _m_users_lookupByEmail(self, args: dict[str, Any], granted: frozenset[str]) -> dict[str, Any]:
        email = require(args, "email", "users_not_found").lower()
        for user in self.users.values():
            if user.email and user.email.lower() == email:
                return {"user": user.to_api(self.team_id)}
        raise SlackError("users_not_found")

    def _m_conversations_open(self, args: dict[str, Any], granted: frozenset[str]) -> dict[str, Any]:
        if args.get("channel"):
            channel = self._resolve_for_api(str(args["channel"]), names=False, users=False)
            if not channel.is_im:
                raise SlackError("method_not_supported_for_channel_type")
            require_scope(granted, OPEN_SCOPES["im"])
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
            require_scope(granted, OPEN_SCOPES["im"])
            channel = self.dm_channel(user.id)
        if as_bool(args.get("return_im", False)):
            return {"channel": {"id": channel.id, "is_im": True, "user": channel.im_user, "is_user_deleted": False}}
        return {"channel": {"id": channel.id}}

    def _m_conversations_history(self, args: dict[str, Any], granted: frozenset[str]) -> dict[str, Any]:
        channel = self._readable(args, granted)
        top = [m for m in self._messages[channel.id] if m.in_channel]
        return {
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
            **self._page(top, args, newest_first=True),
        }

    def _m_conversations_replies(self, args: dict[str, Any], granted: frozenset[str]) -> dict[str, Any]:
        channel = self._readable(args, granted)
        anchor = self._find(channel.id, require(args, "ts", "thread_not_found"))
        if anchor is None:
            raise SlackError("thread_not_found")
        parent_ts = anchor.thread_ts if anchor.is_reply and anchor.thread_ts else anchor.ts
        parent = self._find(channel.id, parent_ts)
        if parent is None:
            raise SlackError("thread_not_found")
        thread = [parent] + [m for m in self._messages[channel.id] if m.replies_to(parent.ts)]
        return self._page(thread, args, newest_first=False)

    def _m_conversations_info(self, args: dict[str, Any], granted: frozenset[str]) -> dict[str, Any]:
        channel = self._resolve_for_api(require(args, "channel", "channel_not_found"), names=False, users=False)
        require_scope(granted, INFO_SCOPES[channel.kind])
        if channel.kind == "group" and not channel.bot_member:
            raise SlackError("channel_not_found")  # a private channel is invisible to an app outside it
        return {"channel": self._conversation_api(channel)}

    def _conversation_api(self, channel: Channel) -> dict[str, Any]:
        """A conversation as conversations.info shows it."""
        created = 1_700_000_000
        out: dict[str, Any] = {
            "id": channel.id,
            "created": created,
            "is_archived": False,
            "is_im": channel.is_im,
            "is_org_shared": False,
            "context_team_id": self.team_id,
            "updated": created * 1000,
        }
        if channel.is_im:
            return {**out, "user": channel.im_user, "is_user_deleted": False, "priority": 0}
        blank = {"value": "", "creator": "", "last_set": 0}
        return {
            **out,
            "name": channel.name,
            "name_normalized": channel.name,
            "creator": self.bot_user_id,
            "is_channel": channel.kind == "channel",
            "is_group": channel.kind == "group",
            "is_mpim": channel.kind == "mpim",
            "is_private": channel.kind in ("group", "mpim"),
            "is_general": channel.name == "general",
            "is_shared": False,
            "is_ext_shared": False,
            "is_pending_ext_shared": False,
            "is_member": channel.bot_member,
            "unlinked": 0,
            "parent_conversation": None,
            "shared_team_ids": [self.team_id],
            "pending_shared": [],
            "pending_connected_team_ids": [],
            "previous_names": [],
            "topic": blank,
            "purpose": blank,
        }

    def _m_reactions_add(self, args: dict[str, Any], granted: frozenset[str]) -> dict[str, Any]:
        channel = self._resolve_for_api(require(args, "channel", "channel_not_found"), names=False, users=False)
        timestamp = require(args, "timestamp", "no_item_specified")
        try:
            _ts_key(timestamp)
        except ValueError:
            raise SlackError("bad_timestamp") from None
        self._add_reaction(self.bot_user_id, channel.id, timestamp, require(args, "name", "invalid_name"))
        return {}

    def _page(self, messages: list[Message], args: dict[str, Any], newest_first: bool) -> dict[str, Any]:
        inclusive = as_bool(args.get("inclusive", False))
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
        replies = [m for m in self._messages[message.channel] if m.replies_to(message.ts)]
        if replies:
            out.update(
                thread_ts=message.ts,
                reply_count=len(replies),
                latest_reply=replies[-1].ts,
                reply_users=sorted({m.user for m in replies}),
            )
        return out

    # --- views -------------------------------------------------------------------------------
    def _check_external_id(self, view: dict[str, Any], except_id: str | None = None) -> None:
        external = view.get("external_id")
        if external and any(v.external_id == external and v.id != except_id for v in self._views.values()):
            raise SlackError("duplicate_external_id")

    def _exchange_trigger(self, args: dict[str, Any]) -> str:
        trigger_id = require(args, "trigger_id")
        trigger = self._triggers.get(trigger_id)
        if trigger is None:
            raise SlackError("invalid_trigger_id")
        if trigger.used:
            raise SlackError("exchanged_trigger_id")
        if self.clock() - trigger.issued_at > self.trigger_ttl:
            raise SlackError("expired_trigger_id")
        trigger.used = True
        return trigger.user_id

    def _m_views_open(self, args: dict[str, Any], granted: frozenset[str]) -> dict[str, Any]:
        view = self._view_arg(args, "modal")
        self._check_external_id(view)
        user_id = self._exchange_trigger(args)
        for old in self._stacks.get(user_id, []):
            self._views.pop(old, None)
        record = self._new_view(user_id, view, None, None)
        self._stacks[user_id] = [record.id]
        return {"view": self.view_api(record)}

    def _m_views_push(self, args: dict[str, Any], granted: frozenset[str]) -> dict[str, Any]:
        view = self._view_arg(args, "modal")
        self._check_external_id(view)
        user_id = self._exchange_trigger(args)
        return {"view": self.view_api(self._push(user_id, view))}

    def _m_views_update(self, args: dict[str, Any], granted: frozenset[str]) -> dict[str, Any]:
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

    def _m_views_publish(self, args: dict[str, Any], granted: frozenset[str]) -> dict[str, Any]:
        user = self.users.get(require(args, "user_id"))
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


def token_refusal(
    request: Request, expected: str | Collection[str], other_type: Callable[[str], bool]
) -> Response | None:
    """Slack's answer to a call whose token is missing, malformed or not `expected` (one token, or any of
    several; `other_type`: a token of another kind, such as a bot token where an app-level one is wanted);
    None when the token is right."""
    try:
        token = request_token(request)
    except SlackError as err:
        return api_error(err.code)
    if not token:
        return api_error("not_authed")
    if token not in ((expected,) if isinstance(expected, str) else expected):
        return api_error("not_allowed_token_type" if other_type(token) else "invalid_auth")
    return None


def api_error(code: str, *messages: str, status: int = 200, fields: dict[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {"ok": False, "error": code, **(fields or {})}
    if messages:
        body["response_metadata"] = {"messages": list(messages)}
    return json_response(body, status)


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
