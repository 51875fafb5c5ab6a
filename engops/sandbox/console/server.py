"""The console's HTTP side: the page, what a person sees, and what they do, as `SlackDriver` calls.

Nothing here builds a Slack payload: a click becomes `driver.click`, a pick `driver.select`, a
submit `driver.submit_view` and so on, so the bot gets exactly what Slack would send it. Values a
person types into a modal stay in the browser (as in Slack's client) until a submit or a choice
Slack would report (`dispatch_action`, selects outside input blocks); options of external selects
are the ones the app offered to this person's type-ahead, nothing else can be picked.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.utils import send_from_directory
from werkzeug.wrappers import Request, Response

from bot.slack.manifest import GLOBAL_SHORTCUTS, MESSAGE_SHORTCUTS, SLASH_COMMANDS
from engops.sandbox.console.composer import escaped_command_text
from engops.sandbox.console.panel import AwsPanel, gitlab_panel, google_panel, okta_panel
from engops.sandbox.console.screen import screen, workspace
from engops.sandbox.slack.blocks import EXTERNAL_SELECTS, state_value, stateful_elements
from engops.sandbox.slack.errors import SlackProtocolError
from engops.sandbox.slack.model import Message, ViewRecord
from engops.sandbox.slack_driver import DriverResponse, SlackDriver, SlackDriverError

if TYPE_CHECKING:
    from engops.sandbox.stack import Stack

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
SLACK_ACK_LIMIT = 3.0  # seconds Slack waits for an answer before showing the user a timeout


class ConsoleError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _json(data: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(data), status=status, content_type="application/json", headers={"Cache-Control": "no-store"}
    )


def _rev(data: Any) -> str:
    return hashlib.sha1(json.dumps(data, sort_keys=True).encode(), usedforsecurity=False).hexdigest()[:16]


class ConsoleApp:
    """WSGI app. Serves the page at once; the API answers 503 until `attach(stack)`."""

    def __init__(self) -> None:
        self.stack: Stack | None = None
        self._aws: AwsPanel | None = None
        self._offered: dict[tuple[str, str, str, str], dict[str, dict[str, Any]]] = {}
        self._offered_lock = threading.Lock()
        self._api: dict[str, Callable[[dict[str, Any]], Any]] = {
            "command": self.command,
            "post": self.post,
            "click": self.click,
            "select": self.select,
            "suggest": self.suggest,
            "pick": self.pick,
            "submit": self.submit,
            "close": self.close,
            "shortcut": self.shortcut,
            "home": self.open_home,
            "react": self.react,
            "unreact": self.unreact,
        }
        self.url_map = Map(
            [
                Rule("/", endpoint="index", methods=["GET"]),
                Rule("/static/<path:name>", endpoint="static", methods=["GET"]),
                Rule("/api/workspace", endpoint="workspace", methods=["GET"]),
                Rule("/api/screen", endpoint="screen", methods=["GET"]),
                Rule("/api/panel", endpoint="panel", methods=["GET"]),
                Rule("/api/<action>", endpoint="action", methods=["POST"]),
            ]
        )

    def attach(self, stack: Stack) -> None:
        assert stack.moto is not None and stack.driver is not None
        self._aws = AwsPanel(stack.moto.url)
        self.stack = stack

    # --- WSGI -------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self._route(request)
        except ConsoleError as err:
            response = _json({"ok": False, "error": err.message}, err.status)
        except HTTPException as exc:
            response = _json({"ok": False, "error": exc.description}, exc.code or 500)
        except Exception as exc:
            log.exception("console error on %s %s", request.method, request.path)
            response = _json({"ok": False, "error": f"console error: {exc}"}, 500)
        return response(environ, start_response)

    def _route(self, request: Request) -> Response:
        endpoint, args = self.url_map.bind_to_environ(request.environ).match()
        if endpoint == "index":
            return send_from_directory(STATIC_DIR, "index.html", request.environ, max_age=0)
        if endpoint == "static":
            return send_from_directory(STATIC_DIR, args["name"], request.environ, max_age=0)
        if self.stack is None:
            return _json({"ok": False, "error": "the sandbox is starting", "starting": True}, 503)
        if endpoint == "workspace":
            assert self.stack.policy is not None
            return _json(workspace(self.stack.slack, self.stack.directory, self.stack.policy))
        if endpoint == "screen":
            user = self._user_id(request.args.get("user", ""))
            return self._versioned(screen(self.stack.slack, self.stack.slack.user(user)), request)
        if endpoint == "panel":
            return self._versioned(self.panel(), request)
        handler = self._api.get(args["action"])
        if handler is None:
            raise NotFound()
        try:
            body = json.loads(request.get_data(as_text=True) or "{}")
        except json.JSONDecodeError:
            raise ConsoleError("the request body is not JSON") from None
        if not isinstance(body, dict):
            raise ConsoleError("the request body must be a JSON object")
        try:
            result = handler(body)
        except SlackDriverError as err:
            raise ConsoleError(str(err)) from None
        except SlackProtocolError as err:
            raise ConsoleError(f"Slack would reject the app's answer: {err}", 502) from None
        return _json({"ok": True, **(result or {})})

    @staticmethod
    def _versioned(data: dict[str, Any], request: Request) -> Response:
        rev = _rev(data)
        if request.args.get("rev") == rev:
            return _json({"rev": rev, "unchanged": True})
        return _json({"rev": rev, **data})

    # --- reading -------------------------------------------------------------------------------------
    @property
    def _stack(self) -> Stack:
        if self.stack is None:
            raise ConsoleError("the sandbox is starting", 503)
        return self.stack

    @property
    def _driver(self) -> SlackDriver:
        driver = self._stack.driver
        assert driver is not None
        return driver

    def panel(self) -> dict[str, Any]:
        stack = self._stack
        assert self._aws is not None
        return {
            "okta": okta_panel(stack.okta),
            "google": google_panel(stack.google),
            "aws": self._aws.state(),
            "gitlab": gitlab_panel(stack.gitlab),
        }

    def _user_id(self, ref: Any) -> str:
        try:
            user = self._stack.slack.user(str(ref or ""))
        except KeyError:
            raise ConsoleError(f"no such person: {ref!r}", 404) from None
        if user.is_bot:
            raise ConsoleError("you cannot act as the bot")
        return user.id

    def _channel_id(self, ref: Any) -> str:
        try:
            return self._stack.slack.channel(str(ref or "#")).id
        except KeyError:
            raise ConsoleError(f"no such channel: {ref!r}", 404) from None

    def _open_view(self, user: str, view_id: Any) -> ViewRecord:
        record = self._stack.slack.current_view(user)
        if record is None or record.id != view_id:
            raise ConsoleError("that modal is no longer open", 409)
        return record

    def _surface(self, user: str, surface: Any) -> dict[str, Any]:
        """Where the click or pick happened, as SlackDriver's keyword arguments."""
        slack = self._stack.slack
        kind = surface.get("type") if isinstance(surface, dict) else None
        if kind == "message":
            try:
                return {"message": slack.message(self._channel_id(surface.get("channel")), str(surface.get("ts")))}
            except KeyError:
                raise ConsoleError("that message is gone", 404) from None
        if kind == "ephemeral":
            found = next((e for e in slack.ephemerals(user) if e.ts == surface.get("ts")), None)
            if found is None:
                raise ConsoleError("that message is gone", 404)
            return {"message": found}
        if kind == "view":
            self._open_view(user, surface.get("view_id"))
            return {"view": True}
        if kind == "home":
            return {"home": True}
        raise ConsoleError(f"unknown surface {surface!r}")

    @staticmethod
    def _answer(response: DriverResponse | None) -> dict[str, Any]:
        """What the person is told about the app's HTTP answer (Slack shows an error when it is not a 200)."""
        if response is None:
            return {}
        if response.status != 200:
            raise ConsoleError(f"EngOps Bot answered HTTP {response.status}; Slack would show the user an error", 502)
        if response.elapsed > SLACK_ACK_LIMIT:
            return {"warning": f"EngOps Bot took {response.elapsed:.1f} s to answer; Slack gives up after 3 s"}
        return {}

    # --- doing -------------------------------------------------------------------------------------
    def command(self, body: dict[str, Any]) -> dict[str, Any]:
        name = str(body.get("command", "")).strip()
        if name not in SLASH_COMMANDS:
            raise ConsoleError(
                f'{name} is not a valid command. In Slack, messages starting with "/" are interpreted as commands.'
            )
        user, channel = self._user_id(body.get("user")), self._channel_id(body.get("channel"))
        text = escaped_command_text(str(body.get("text", "")), self._stack.slack)
        return self._answer(self._driver.command(user, name, text, channel=channel))

    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        text = str(body.get("text", "")).strip()
        if not text:
            raise ConsoleError("nothing to send")
        thread_ts = str(body["thread_ts"]) if body.get("thread_ts") else None
        message = self._stack.slack.post_as_user(
            self._user_id(body.get("user")), self._channel_id(body.get("channel")), text, thread_ts=thread_ts
        )
        return {"ts": message.ts}

    def click(self, body: dict[str, Any]) -> dict[str, Any]:
        user = self._user_id(body.get("user"))
        where = self._surface(user, body.get("surface"))
        value = body.get("value")
        return self._answer(
            self._driver.click(
                user,
                str(body.get("label", "")),
                block_id=str(body.get("block_id")),
                value=None if value is None else str(value),
                **where,
            )
        )

    def select(self, body: dict[str, Any]) -> dict[str, Any]:
        user = self._user_id(body.get("user"))
        where = self._surface(user, body.get("surface"))
        return self._answer(
            self._driver.select(
                user, str(body.get("action_id")), body.get("value"), block_id=str(body.get("block_id")), **where
            )
        )

    def suggest(self, body: dict[str, Any]) -> dict[str, Any]:
        user = self._user_id(body.get("user"))
        record = self._open_view(user, body.get("view_id"))
        block_id, action_id = str(body.get("block_id")), str(body.get("action_id"))
        options = self._driver.suggest(user, action_id, str(body.get("query", "")))
        with self._offered_lock:
            # what was offered in this person's earlier modals cannot be picked any more
            stale = [k for k in self._offered if k[0] == user and k[1] != record.id]
            for key in stale:
                del self._offered[key]
            offered = self._offered.setdefault((user, record.id, block_id, action_id), {})
            offered.update({str(o["value"]): o for o in options})
        return {"options": options}

    def pick(self, body: dict[str, Any]) -> dict[str, Any]:
        """Choose among the options the app offered to an external select (one value, or a list)."""
        user = self._user_id(body.get("user"))
        record = self._open_view(user, body.get("view_id"))
        block_id, action_id = str(body.get("block_id")), str(body.get("action_id"))
        block, element = next(
            (
                (b, e)
                for b, e in stateful_elements(record.blocks)
                if b["block_id"] == block_id and e["action_id"] == action_id
            ),
            (None, None),
        )
        if block is None or element is None or element["type"] not in EXTERNAL_SELECTS:
            raise ConsoleError(f"no external select {action_id!r} in that modal")
        raw = body.get("value")
        wanted = [str(v) for v in raw] if isinstance(raw, list) else ([] if raw is None else [str(raw)])
        with self._offered_lock:
            offered = self._offered.get((user, record.id, block_id, action_id), {})
            missing = [v for v in wanted if v not in offered]
            chosen = [offered[v] for v in wanted if v in offered]
        if missing:
            raise ConsoleError(f"{missing[0]!r} was not among the options the app offered")
        if block.get("type") == "input" and not block.get("dispatch_action"):
            kind = str(element["type"])
            value: Any = chosen if kind == "multi_external_select" else (chosen[0] if chosen else None)
            self._stack.slack.set_view_value(record.id, block_id, action_id, state_value(kind, value))
            return {}
        # Slack reports this choice at once (block_actions); the driver checks it against a fresh type-ahead.
        return self._answer(
            self._driver.select(
                user, action_id, wanted if isinstance(raw, list) else wanted[0], view=True, block_id=block_id
            )
        )

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        user = self._user_id(body.get("user"))
        record = self._open_view(user, body.get("view_id"))
        values = body.get("values") or {}
        if not isinstance(values, dict):
            raise ConsoleError("values must be an object of block_id -> action_id -> value")
        for block_id, actions in values.items():
            for action_id, raw in (actions or {}).items():
                self._driver.select(user, str(action_id), raw, view=True, block_id=str(block_id))
        self._open_view(user, record.id)  # a dispatch_action answer may have replaced it meanwhile
        return self._answer(self._driver.submit_view(user))

    def close(self, body: dict[str, Any]) -> dict[str, Any]:
        user = self._user_id(body.get("user"))
        self._open_view(user, body.get("view_id"))
        return self._answer(self._driver.close_view(user))

    def shortcut(self, body: dict[str, Any]) -> dict[str, Any]:
        user = self._user_id(body.get("user"))
        callback_id = str(body.get("callback_id", ""))
        if body.get("ts"):
            if callback_id not in MESSAGE_SHORTCUTS:
                raise ConsoleError(f"no message shortcut {callback_id!r}")
            channel = self._channel_id(body.get("channel"))
            return self._answer(self._driver.message_shortcut(user, callback_id, str(body["ts"]), channel))
        if callback_id not in GLOBAL_SHORTCUTS:
            raise ConsoleError(f"no global shortcut {callback_id!r}")
        return self._answer(self._driver.global_shortcut(user, callback_id))

    def _reacted_message(self, body: dict[str, Any]) -> tuple[str, Message, str]:
        user = self._user_id(body.get("user"))
        try:
            message = self._stack.slack.message(self._channel_id(body.get("channel")), str(body.get("ts")))
        except KeyError:
            raise ConsoleError("that message is gone", 404) from None
        name = str(body.get("name", "")).strip()
        if not name:
            raise ConsoleError("pick an emoji")
        return user, message, name

    def react(self, body: dict[str, Any]) -> dict[str, Any]:
        """Add a reaction; the bot hears of it as Slack would tell it (`reaction_added`)."""
        user, message, name = self._reacted_message(body)
        return self._answer(self._driver.react(user, message, name))

    def unreact(self, body: dict[str, Any]) -> dict[str, Any]:
        user, message, name = self._reacted_message(body)
        return self._answer(self._driver.unreact(user, message, name))

    def open_home(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._answer(self._driver.open_home(self._user_id(body.get("user"))))
