"""App Home: published after the ack from stored state; Slack's retried deliveries are ignored."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from commands.deps import Deps
from workflows.engine.home import request_home


def register(app: App, deps: Deps) -> None:
    @app.event("app_home_opened")
    def home_opened(ack: Ack, event: dict[str, Any], body: dict[str, Any]) -> None:
        ack()
        if event.get("tab", "home") != "home":
            return
        # The event id names the workflow, so a retried delivery is the same (single) execution.
        request_home(deps.dispatcher, event["user"], str(body.get("event_id") or event.get("event_ts")))
