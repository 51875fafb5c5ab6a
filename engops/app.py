"""build_app: the Bolt app with every listener registered, and the one error handler."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SqlAlchemyTimeout

from bot.slack.messenger import ServerErrorRetry
from commands import register_all
from commands.deps import Deps
from commands.errors import UserFacingError

log = logging.getLogger(__name__)


def build_app(*, signing_secret: str, client: WebClient, deps: Deps) -> App:
    token = client.token or ""

    def authorize(enterprise_id: str | None, team_id: str | None, **_: Any) -> AuthorizeResult:
        # Single workspace: the token is known. Bolt's default would call auth.test on the first
        # request, a Slack call before the ack.
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=token)

    app = App(
        signing_secret=signing_secret,
        client=client,
        authorize=authorize,
        # Listeners finish (ack + durable hand-over) before the HTTP response is sent, so nothing
        # is lost when a process dies right after answering Slack.
        process_before_response=True,
        token_verification_enabled=False,
        ignoring_self_events_enabled=False,
    )

    @app.error
    def on_error(error: Exception, body: dict[str, Any], response: BoltResponse) -> None:
        if isinstance(error, UserFacingError):
            text = str(error)
        else:
            incident = uuid.uuid4().hex[:8]
            log.error("listener failed (incident %s): %s", incident, type(error).__name__, exc_info=error)
            if isinstance(error, (OperationalError, SqlAlchemyTimeout)):  # down, locked, or not answering in time
                text = (
                    f"I can't reach my database right now (incident `{incident}`), so nothing was changed. "
                    "Please try again in a minute."
                )
            else:
                text = (
                    f"Something went wrong on our side (incident `{incident}`); nothing was changed. Please try again."
                )
        response.status = 200
        response.headers["content-type"] = ["application/json"]
        if body.get("type") == "view_submission":
            response.body = json.dumps({"response_action": "errors", "errors": _first_input_error(body, text)})
            return
        if body.get("type") == "block_suggestion":  # a type-ahead: no options (anything else is an error in Slack)
            response.body = json.dumps({"options": []})
            return
        response.body = json.dumps({"response_type": "ephemeral", "text": text})
        if body.get("type") not in ("block_actions", "message_action"):
            return  # a slash command shows the body above
        # Slack shows nothing of a button's or a message shortcut's HTTP answer; its response_url does.
        # The database cannot take durable work now, so this one reply is sent from a thread, after the ack.
        response_url = body.get("response_url")  # the payload is signed: it is Slack's
        if isinstance(response_url, str) and response_url.startswith(("https://", "http://")):
            threading.Thread(target=_reply, args=(response_url, text), name="error-reply", daemon=True).start()

    register_all(app, deps)
    return app


def _reply(response_url: str, text: str) -> None:
    retries = [RateLimitErrorRetryHandler(max_retry_count=2), ServerErrorRetry(max_retry_count=2)]
    try:
        WebhookClient(response_url, timeout=5, retry_handlers=retries).send(
            text=text, response_type="ephemeral", replace_original=False
        )
    except Exception as exc:  # best effort: Slack already got its ack
        log.warning("could not send the error reply: %s", type(exc).__name__)


def _first_input_error(body: dict[str, Any], text: str) -> dict[str, str]:
    values = body.get("view", {}).get("state", {}).get("values", {})
    block_id = next(iter(values), "error")
    return {block_id: text[:150]}
