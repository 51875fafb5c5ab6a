"""Acts as Slack toward the app: signed requests to `/slack/events`, built like Slack builds them.

A scenario test (or the sandbox console) says what a person does — runs `/access`, clicks
**Approve** on the card in their DM, fills in and submits a modal, opens the App Home — and the
driver sends the payload Slack would send, with a fresh trigger id and a `response_url` that
point at the Slack stand-in, then applies the app's answer where Slack would (a command's reply
becomes an ephemeral message; a view_submission answer updates the modal stack). It refuses what
a person could not do in Slack (click a button that is not there, submit a modal with a required
field empty, pick an option the app did not offer).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import itertools
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlencode, urlsplit

from bot.slack.manifest import BOT_EVENTS
from engops.sandbox.slack.api import SlackStandIn
from engops.sandbox.slack.blocks import (
    BUTTON_TYPES,
    EXTERNAL_SELECTS,
    MULTI_OPTION_TYPES,
    SINGLE_OPTION_TYPES,
    TEXT_INPUTS,
    button_labels,
    elements_of,
    find_option,
    options_of,
    state_value,
    state_values,
    stateful_elements,
    text_of,
)
from engops.sandbox.slack.checks import submit_refusal, suggested_options
from engops.sandbox.slack.errors import SlackError, SlackProtocolError
from engops.sandbox.slack.model import Ephemeral, Message, SlackUser, ViewRecord
from engops.sandbox.slack.scopes import EVENT_SCOPES
from engops.sandbox.slack.text import message_as_text

VERIFICATION_TOKEN = "sandbox-verification-token"  # the deprecated `token` field Slack still sends


class SlackDriverError(Exception):
    """Something a person could not do in Slack (no such button, empty required field, ...)."""


def sign(signing_secret: str, timestamp: str, body: bytes) -> str:
    """Slack's request signature: `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}`."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class DriverResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    request_body: bytes = b""
    request_headers: dict[str, str] = field(default_factory=dict)
    event_id: str | None = None
    elapsed: float = 0.0  # seconds until the app answered (Slack gives up after 3)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    def json(self) -> Any:
        """The parsed body; None for an empty one (a plain `ack()`)."""
        return json.loads(self.body) if self.body.strip() else None


@dataclass
class _Surface:
    """Where a person sees blocks: a channel/DM message, an ephemeral message, a modal or the App Home."""

    blocks: list[dict[str, Any]]
    message: Message | None = None
    ephemeral: Ephemeral | None = None
    view: ViewRecord | None = None


@dataclass
class _Hit:
    block: dict[str, Any]
    element: dict[str, Any]
    option: dict[str, Any] | None = None  # for an overflow menu item


class SlackDriver:
    def __init__(
        self,
        app_url: str,
        signing_secret: str,
        slack: SlackStandIn,
        *,
        slack_url: str | None = None,
        events_path: str = "/slack/events",
        clock: Callable[[], float] = time.time,
        timeout: float = 10.0,
    ) -> None:
        self.app_url = app_url.rstrip("/")
        self.signing_secret = signing_secret
        self.slack = slack
        if slack_url:
            slack.base_url = slack_url
        self.events_path = events_path
        self.clock = clock
        self.timeout = timeout
        self._event_ids = itertools.count(1)

    # --- transport ------------------------------------------------------------------------------
    def raw(self, body: bytes, headers: dict[str, str]) -> DriverResponse:
        """Send exactly these bytes and headers (for unsigned, stale or forged requests)."""
        parts = urlsplit(self.app_url)
        conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(parts.hostname or "127.0.0.1", parts.port, timeout=self.timeout)
        started = time.perf_counter()
        try:
            conn.request("POST", parts.path + self.events_path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            elapsed = time.perf_counter() - started
            return DriverResponse(resp.status, dict(resp.getheaders()), data, body, dict(headers), elapsed=elapsed)
        finally:
            conn.close()

    def signed_headers(self, body: bytes, content_type: str, *, timestamp: float | None = None) -> dict[str, str]:
        ts = str(int(self.clock() if timestamp is None else timestamp))
        return {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sign(self.signing_secret, ts, body),
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }

    def _send(self, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> DriverResponse:
        return self.raw(body, {**self.signed_headers(body, content_type), **(extra or {})})

    def _send_form(self, fields: dict[str, str]) -> DriverResponse:
        return self._send(urlencode(fields).encode(), "application/x-www-form-urlencoded")

    def _send_interaction(self, payload: dict[str, Any]) -> DriverResponse:
        return self._send_form({"payload": json.dumps(payload)})

    # --- common payload parts --------------------------------------------------------------------
    def _user(self, ref: str) -> SlackUser:
        try:
            return self.slack.user(ref)
        except KeyError as exc:
            raise SlackDriverError(str(exc)) from None

    def _user_obj(self, user: SlackUser) -> dict[str, Any]:
        return {"id": user.id, "username": user.name, "name": user.name, "team_id": self.slack.team_id}

    def _team(self) -> dict[str, Any]:
        return {"id": self.slack.team_id, "domain": self.slack.team_domain}

    def _channel_obj(self, channel_id: str) -> dict[str, Any]:
        channel = self.slack.channel(channel_id)
        return {"id": channel.id, "name": "directmessage" if channel.is_im else channel.name}

    def _interaction(self, kind: str, user: SlackUser, **rest: Any) -> dict[str, Any]:
        payload = {
            "type": kind,
            "user": self._user_obj(user),
            "api_app_id": self.slack.app_id,
            "token": VERIFICATION_TOKEN,
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            **rest,
        }
        if kind in ("shortcut", "message_action"):  # shortcut payloads carry no api_app_id
            del payload["api_app_id"]
        if kind == "shortcut":
            del payload["user"]["name"]
        return payload

    def _now_ts(self) -> str:
        return f"{self.clock():.6f}"

    # --- slash commands ----------------------------------------------------------------------------
    def command(self, user: str, command: str, text: str = "", channel: str = "#general") -> DriverResponse:
        """Run a slash command; a non-empty reply is shown as Slack shows it (ephemeral unless in_channel)."""
        person = self._user(user)
        conv = self.slack.channel(channel)
        fields = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.slack.team_id,
            "team_domain": self.slack.team_domain,
            "channel_id": conv.id,
            "channel_name": self._channel_obj(conv.id)["name"],
            "user_id": person.id,
            "user_name": person.name,
            "command": command,
            "text": text,
            "api_app_id": self.slack.app_id,
            "is_enterprise_install": "false",
            "response_url": self.slack.issue_response_url(person.id, conv.id),
            "trigger_id": self.slack.issue_trigger(person.id),
        }
        response = self._send_form(fields)
        if response.status == 200 and response.body.strip():
            reply = _reply_payload(response)
            try:
                self.slack.deliver_response(person.id, conv.id, reply)
            except SlackError as err:
                raise SlackProtocolError(f"{command} reply rejected: {err.code} {err.messages}") from None
        return response

    # --- finding things on screen ------------------------------------------------------------------
    def _surfaces(
        self,
        user: SlackUser,
        *,
        channel: str | None,
        message: Message | Ephemeral | None,
        in_dm_of: str | None,
        view: bool,
        home: bool,
        ephemeral: bool,
    ) -> list[_Surface]:
        """Where to look, newest first; the user's DM with the app when nothing is said."""
        if isinstance(message, Ephemeral):
            return [_Surface(message.blocks, ephemeral=message)]
        if message is not None:
            return [_Surface(message.blocks, message=message)]
        if view:
            current = self.slack.current_view(user.id)
            if current is None:
                raise SlackDriverError(f"{user.name} has no modal open")
            return [_Surface(current.blocks, view=current)]
        if home:
            record = self.slack.home(user.id)
            if record is None:
                raise SlackDriverError(f"no App Home published for {user.name}")
            return [_Surface(record.blocks, view=record)]
        if ephemeral:
            return [_Surface(e.blocks, ephemeral=e) for e in reversed(self.slack.ephemerals(user.id))]
        messages = self.slack.all_messages(channel) if channel is not None else self.slack.dm(in_dm_of or user.id)
        return [_Surface(m.blocks, message=m) for m in reversed(messages)]

    def _find(
        self, surfaces: list[_Surface], match: Callable[[dict[str, Any]], Iterable[_Hit]], what: str
    ) -> tuple[_Surface, _Hit]:
        for surface in surfaces:
            hits = [hit for block in surface.blocks for hit in match(block)]
            if len(hits) > 1:
                raise SlackDriverError(f"{what} is ambiguous here ({len(hits)} matches); pass value= or message=")
            if hits:
                return surface, hits[0]
        seen = sorted({label for s in surfaces[:3] for label in button_labels(s.blocks)})
        raise SlackDriverError(f"{what} not found (buttons on the latest surfaces: {seen})")

    # --- block_actions ---------------------------------------------------------------------------------
    def click(
        self,
        user: str,
        label: str,
        *,
        channel: str | None = None,
        message: Message | Ephemeral | None = None,
        in_dm_of: str | None = None,
        view: bool = False,
        home: bool = False,
        ephemeral: bool = False,
        value: str | None = None,
        block_id: str | None = None,
    ) -> DriverResponse:
        """Click the button (or overflow item) with this visible label on the newest message that has one
        (only in the block `block_id`, when given)."""
        person = self._user(user)
        surfaces = self._surfaces(
            person, channel=channel, message=message, in_dm_of=in_dm_of, view=view, home=home, ephemeral=ephemeral
        )

        def match(block: dict[str, Any]) -> Iterable[_Hit]:
            if block_id is not None and block.get("block_id") != block_id:
                return
            for element in elements_of(block):
                kind = element.get("type")
                if kind in BUTTON_TYPES and text_of(element.get("text")) == label:
                    if value is None or value in str(element.get("value", "")):
                        yield _Hit(block, element)
                elif kind == "overflow":
                    for option in element.get("options", []):
                        if text_of(option.get("text")) == label and (value is None or value in str(option["value"])):
                            yield _Hit(block, element, option)

        surface, hit = self._find(surfaces, match, f"button {label!r}")
        action: dict[str, Any] = {
            "action_id": hit.element["action_id"],
            "block_id": hit.block["block_id"],
            "type": hit.element["type"],
            "action_ts": self._now_ts(),
        }
        if hit.option is not None:
            action["selected_option"] = hit.option
        else:
            action["text"] = {**hit.element["text"], "emoji": True}
            for key in ("value", "style"):
                if key in hit.element:
                    action[key] = hit.element[key]
        return self._send_interaction(self._block_actions(person, surface, action))

    def _block_actions(self, user: SlackUser, surface: _Surface, action: dict[str, Any]) -> dict[str, Any]:
        rest: dict[str, Any] = {"trigger_id": self.slack.issue_trigger(user.id), "actions": [action]}
        if surface.view is not None:
            record = self.slack.view(surface.view.id)
            rest["container"] = {"type": "view", "view_id": record.id}
            rest["view"] = self.slack.view_api(record)
            rest["state"] = {"values": record.state_values()}
        elif surface.ephemeral is not None:
            eph = surface.ephemeral
            rest["container"] = {
                "type": "message",
                "message_ts": eph.ts,
                "channel_id": eph.channel,
                "is_ephemeral": True,
            }
            rest["channel"] = self._channel_obj(eph.channel)
            rest["state"] = {"values": state_values(eph.blocks)}
            rest["response_url"] = self.slack.issue_response_url(user.id, eph.channel, ephemeral_ts=eph.ts)
        else:
            assert surface.message is not None
            msg = surface.message
            rest["container"] = {
                "type": "message",
                "message_ts": msg.ts,
                "channel_id": msg.channel,
                "is_ephemeral": False,
            }
            if msg.is_reply:
                rest["container"]["thread_ts"] = msg.thread_ts
            rest["channel"] = self._channel_obj(msg.channel)
            rest["message"] = msg.to_api(self.slack.team_id)
            rest["state"] = {"values": state_values(msg.blocks)}
            rest["response_url"] = self.slack.issue_response_url(user.id, msg.channel, message_ts=msg.ts)
        return self._interaction("block_actions", user, **rest)

    def select(
        self,
        user: str,
        target: str,
        option: Any,
        *,
        channel: str | None = None,
        message: Message | Ephemeral | None = None,
        in_dm_of: str | None = None,
        view: bool = False,
        home: bool = False,
        block_id: str | None = None,
    ) -> DriverResponse | None:
        """Pick `option` (value or visible text; user/channel refs; dates) in the select found by action_id,
        placeholder or input label (only in the block `block_id`, when given). Sends block_actions where
        Slack would; inside an input block without `dispatch_action` Slack only records the choice, and so
        does this (returns None)."""
        person = self._user(user)
        surfaces = self._surfaces(
            person, channel=channel, message=message, in_dm_of=in_dm_of, view=view, home=home, ephemeral=False
        )

        def match(block: dict[str, Any]) -> Iterable[_Hit]:
            if block_id is not None and block.get("block_id") != block_id:
                return
            for blk, element in stateful_elements([block]):
                names = {element["action_id"], text_of(element.get("placeholder")), text_of(blk.get("label"))}
                if target in names:
                    yield _Hit(blk, element)

        surface, hit = self._find(surfaces, match, f"select {target!r}")
        state = self._state_value(person, surface.view, hit.block, hit.element, option)
        if surface.view is not None:
            self.slack.set_view_value(surface.view.id, hit.block["block_id"], hit.element["action_id"], state)
        if hit.block.get("type") == "input" and not hit.block.get("dispatch_action"):
            return None
        action = {
            **state,
            "action_id": hit.element["action_id"],
            "block_id": hit.block["block_id"],
            "action_ts": self._now_ts(),
        }
        return self._send_interaction(self._block_actions(person, surface, action))

    # --- choosing values as a person does ----------------------------------------------------------
    def _state_value(
        self, user: SlackUser, view: ViewRecord | None, block: dict[str, Any], element: dict[str, Any], raw: Any
    ) -> dict[str, Any]:
        kind = str(element["type"])
        many = list(raw) if isinstance(raw, (list, tuple, set)) else [raw]
        value: Any
        if kind in TEXT_INPUTS:
            value = None if raw is None or str(raw) == "" else str(raw)
        elif kind in SINGLE_OPTION_TYPES:
            value = _pick_option(element, raw)
        elif kind in MULTI_OPTION_TYPES:
            value = [_pick_option(element, r) for r in many]
        elif kind == "external_select":
            value = self._pick_external(user, view, block, element, raw)
        elif kind == "multi_external_select":
            value = [self._pick_external(user, view, block, element, r) for r in many]
        elif kind == "users_select":
            value = self._user(str(raw)).id
        elif kind == "multi_users_select":
            value = [self._user(str(r)).id for r in many]
        elif kind in ("conversations_select", "channels_select"):
            value = self.slack.channel(str(raw)).id
        elif kind in ("multi_conversations_select", "multi_channels_select"):
            value = [self.slack.channel(str(r)).id for r in many]
        elif kind == "datepicker":
            value = raw.isoformat() if isinstance(raw, date) else date.fromisoformat(str(raw)).isoformat()
        elif kind == "timepicker":
            value = str(raw)
        else:
            raise SlackDriverError(f"cannot fill a {kind}")
        return state_value(kind, value)

    def _pick_external(
        self, user: SlackUser, view: ViewRecord | None, block: dict[str, Any], element: dict[str, Any], raw: Any
    ) -> dict[str, Any]:
        wanted = str(raw)
        options = self._suggest(user, view, block, element, wanted)
        found = find_option(options, wanted)
        if found is not None:
            return found
        offered = [o.get("value") for o in options]
        raise SlackDriverError(f"typing {wanted!r} in {element['action_id']} offers {offered}, not it")

    # --- block_suggestion ----------------------------------------------------------------------------
    def suggest(self, user: str, action_id: str, query: str) -> list[dict[str, Any]]:
        """Type `query` into the external select `action_id` of the user's open modal; the options offered."""
        person = self._user(user)
        record = self.slack.current_view(person.id)
        if record is None:
            raise SlackDriverError(f"{person.name} has no modal open")
        for block, element in stateful_elements(record.blocks):
            if element["action_id"] == action_id and element["type"] in EXTERNAL_SELECTS:
                return self._suggest(person, record, block, element, query)
        raise SlackDriverError(f"no external select {action_id!r} in the open modal")

    def _suggest(
        self, user: SlackUser, view: ViewRecord | None, block: dict[str, Any], element: dict[str, Any], query: str
    ) -> list[dict[str, Any]]:
        min_length = int(element.get("min_query_length", 3))
        if len(query) < min_length:
            raise SlackDriverError(f"Slack sends no suggestion request before {min_length} characters")
        if view is None:
            raise SlackDriverError("external selects are driven in modals only")
        payload = self._interaction(
            "block_suggestion",
            user,
            container={"type": "view", "view_id": view.id},
            action_id=element["action_id"],
            block_id=block["block_id"],
            value=query,
            view=self.slack.view_api(self.slack.view(view.id)),
        )
        response = self._send_interaction(payload)
        if response.status != 200:
            raise SlackProtocolError(f"options request answered HTTP {response.status}")
        return suggested_options(response.json())

    # --- view_submission / view_closed ------------------------------------------------------------------
    def submit_view(self, user: str, values: dict[str, Any] | None = None) -> DriverResponse:
        """Fill the open modal's inputs (by label or block_id) and press its submit button.

        The app's answer is applied to the modal stack as Slack applies it; check
        `current_view(user)` for the result (errors, updated view, closed)."""
        person = self._user(user)
        record = self.slack.current_view(person.id)
        if record is None:
            raise SlackDriverError(f"{person.name} has no modal open")
        for key, raw in (values or {}).items():
            block, element = self._input(record, key)
            state = self._state_value(person, record, block, element, raw)
            self.slack.set_view_value(record.id, block["block_id"], element["action_id"], state)
        record = self.slack.view(record.id)
        refusal = submit_refusal(record.blocks, record.state_values())
        if refusal is not None:
            raise SlackDriverError(refusal)
        payload = self._interaction(
            "view_submission",
            person,
            trigger_id=self.slack.issue_trigger(person.id),
            view=self.slack.view_api(record),
            response_urls=[],
        )
        response = self._send_interaction(payload)
        if response.status == 200:
            try:
                answer = response.json()
            except json.JSONDecodeError:
                raise SlackProtocolError(f"view_submission answer is not JSON: {response.text[:200]!r}") from None
            self.slack.apply_view_submission(record.id, answer)
        return response

    def _input(self, record: ViewRecord, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
        labels = []
        for block, element in stateful_elements(record.blocks):
            label = text_of(block.get("label"))
            labels.append(label or block["block_id"])
            if key in (block["block_id"], element["action_id"]) or (label and key.lower() == label.lower()):
                return block, element
        raise SlackDriverError(f"no input {key!r} in the modal (inputs: {labels})")

    def close_view(self, user: str) -> DriverResponse | None:
        """Press Close on the top modal; the app hears of it only if the view asked (notify_on_close)."""
        person = self._user(user)
        record = self.slack.current_view(person.id)
        if record is None:
            raise SlackDriverError(f"{person.name} has no modal open")
        view_api = self.slack.view_api(record)
        self.slack.close_view(person.id)
        if not record.body.get("notify_on_close"):
            return None
        cleared = bool(record.body.get("clear_on_close"))
        return self._send_interaction(self._interaction("view_closed", person, view=view_api, is_cleared=cleared))

    # --- shortcuts ----------------------------------------------------------------------------------------
    def message_shortcut(self, user: str, callback_id: str, message_ts: str, channel: str) -> DriverResponse:
        person = self._user(user)
        msg = self.slack.message(channel, message_ts)
        payload = self._interaction(
            "message_action",
            person,
            callback_id=callback_id,
            trigger_id=self.slack.issue_trigger(person.id),
            response_url=self.slack.issue_response_url(person.id, msg.channel),
            action_ts=self._now_ts(),
            channel=self._channel_obj(msg.channel),
            message_ts=msg.ts,
            message=msg.to_api(self.slack.team_id),
        )
        return self._send_interaction(payload)

    def global_shortcut(self, user: str, callback_id: str) -> DriverResponse:
        person = self._user(user)
        payload = self._interaction(
            "shortcut",
            person,
            callback_id=callback_id,
            trigger_id=self.slack.issue_trigger(person.id),
            action_ts=self._now_ts(),
        )
        return self._send_interaction(payload)

    # --- Events API -------------------------------------------------------------------------------------------
    def open_home(self, user: str, retry_num: int | None = None) -> DriverResponse:
        person = self._user(user)
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": person.id,
            "channel": self.slack.dm_channel(person.id).id,
            "tab": "home",
            "event_ts": self._now_ts(),
        }
        home = self.slack.home(person.id)
        if home is not None:
            event["view"] = self.slack.view_api(home)
        return self.event(event, retry_num=retry_num)

    def event(self, payload: dict[str, Any], retry_num: int | None = None) -> DriverResponse:
        """Deliver an event: a bare event is wrapped in Slack's event_callback envelope."""
        envelope = payload
        if payload.get("type") not in ("event_callback", "url_verification"):
            envelope = {
                "token": VERIFICATION_TOKEN,
                "team_id": self.slack.team_id,
                "context_team_id": self.slack.team_id,
                "context_enterprise_id": None,
                "api_app_id": self.slack.app_id,
                "event": payload,
                "type": "event_callback",
                "event_id": f"Ev{next(self._event_ids):09d}SBX",
                "event_time": int(self.clock()),
                "authorizations": [
                    {
                        "enterprise_id": None,
                        "team_id": self.slack.team_id,
                        "user_id": self.slack.bot_user_id,
                        "is_bot": True,
                        "is_enterprise_install": False,
                    }
                ],
                "is_ext_shared_channel": False,
                "event_context": f"4-sandbox-{self.slack.team_id}",
            }
        body = json.dumps(envelope).encode()
        response = self._send(body, "application/json", _retry_headers(retry_num))
        response.event_id = envelope.get("event_id")
        return response

    def subscribed(self, event_type: str, channel_id: str | None = None) -> bool:
        """Whether Slack would send the app this event: the manifest subscribes to it, the app's token holds the
        event's scope, and (for an event in a channel) the app is in that channel."""
        if event_type not in BOT_EVENTS:
            return False
        granted = self.slack.tokens.get(self.slack.bot_token, frozenset())
        if not set(EVENT_SCOPES.get(event_type, ())) <= granted:
            return False
        if channel_id is None:
            return True
        channel = self.slack.channel(channel_id)
        return channel.is_im or channel.bot_member

    def react(self, user: str, message: Message, emoji: str, *, retry_num: int | None = None) -> DriverResponse | None:
        """`user` adds the reaction `emoji` (a name, no colons) to `message`, as in Slack's client; the app is sent
        `reaction_added` where Slack would send it (None where it would not). A reaction they already added cannot
        be added again (Slack's client takes it back instead: `unreact`)."""
        person = self._user(user)
        try:
            reacted = self.slack.react(person.id, message.channel, message.ts, emoji)
        except SlackError as err:
            raise SlackDriverError(f"{person.name} cannot react :{emoji}: there: {err.code}") from None
        return self._reaction_event("reaction_added", person, reacted, self.slack.emoji_name(emoji), retry_num)

    def unreact(self, user: str, message: Message, emoji: str) -> DriverResponse | None:
        """`user` takes back their reaction `emoji`; `reaction_removed` is sent where Slack would send it."""
        person = self._user(user)
        try:
            reacted = self.slack.unreact(person.id, message.channel, message.ts, emoji)
        except SlackError as err:
            raise SlackDriverError(f"{person.name} has no :{emoji}: there to take back: {err.code}") from None
        return self._reaction_event("reaction_removed", person, reacted, self.slack.emoji_name(emoji), None)

    def _reaction_event(
        self, kind: str, person: SlackUser, message: Message, name: str, retry_num: int | None
    ) -> DriverResponse | None:
        if not self.subscribed(kind, message.channel):
            return None
        event = {
            "type": kind,
            "user": person.id,
            "reaction": name,
            "item_user": message.user,
            "item": {"type": "message", "channel": message.channel, "ts": message.ts},
            "event_ts": self._now_ts(),
        }
        return self.event(event, retry_num=retry_num)

    def redeliver(self, previous: DriverResponse, retry_num: int = 1) -> DriverResponse:
        """Slack's retry of an event delivery: the same body, freshly signed, with X-Slack-Retry-Num. Slack retries
        only after the first delivery failed or took 3 s, so the retry's timestamp is never the first one's (which
        would make it a byte-identical replay)."""
        first = int(previous.request_headers.get("X-Slack-Request-Timestamp") or 0)
        later = max(self.clock(), first + 1.0)
        body = previous.request_body
        headers = {**self.signed_headers(body, "application/json", timestamp=later), **_retry_headers(retry_num)}
        response = self.raw(body, headers)
        response.event_id = previous.event_id
        return response

    # --- reading what a person sees ------------------------------------------------------------------------
    def dm_text(self, user: str) -> str:
        """Every message in the user's DM with the app, as text (blocks rendered), oldest first."""
        return "\n\n".join(message_as_text(m.text, m.blocks) for m in self.slack.dm(self._user(user).id))

    def latest(self, ref: str) -> Message | None:
        """The newest message in a channel (#name, C…) or in a user's DM (handle, email, U…)."""
        try:
            return self.slack.latest(self.slack.dm_channel(ref).id)
        except KeyError:
            return self.slack.latest(ref)

    def ephemerals(self, user: str) -> list[Ephemeral]:
        return self.slack.ephemerals(self._user(user).id)

    def current_view(self, user: str) -> ViewRecord | None:
        return self.slack.current_view(self._user(user).id)

    @staticmethod
    def labels(message: Message | Ephemeral | ViewRecord) -> list[str]:
        return button_labels(message.blocks)


# --- helpers -------------------------------------------------------------------------------------------------
def _pick_option(element: dict[str, Any], raw: Any) -> dict[str, Any]:
    wanted = raw.get("value") if isinstance(raw, dict) else str(raw)
    found = find_option(options_of(element), wanted)
    if found is None:
        offered = [o.get("value") for o in options_of(element)]
        raise SlackDriverError(f"{element['action_id']} has no option {wanted!r} (options: {offered})")
    return found


def _reply_payload(response: DriverResponse) -> dict[str, Any]:
    if (response.header("Content-Type") or "").startswith("application/json"):
        answer = response.json()
        if not isinstance(answer, dict):
            raise SlackProtocolError(f"command reply must be a JSON object: {answer!r}")
        return answer
    return {"text": response.text}


def _retry_headers(retry_num: int | None) -> dict[str, str]:
    if retry_num is None:
        return {}
    return {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
