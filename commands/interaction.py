"""Small helpers for reading Slack interaction payloads, and opening a modal with their trigger."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.errors import SlackApiError

from commands.deps import Deps
from workflows.engine.replies import reply_later


def request_id_from(action: dict[str, Any]) -> int | None:
    value = str(action.get("value", ""))
    return int(value) if value.isdigit() and len(value) < 12 else None


def channel_of(body: dict[str, Any]) -> str | None:
    channel = body.get("channel") or body.get("container", {})
    cid = channel.get("id") or channel.get("channel_id")
    return str(cid) if cid else None


def metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def reply_id(body: dict[str, Any]) -> str:
    """A stable id for the answer to this one interaction (Slack may deliver it twice)."""
    actions = body.get("actions") or [{}]
    return f"{body.get('user', {}).get('id', '')}-{actions[0].get('action_ts', body.get('trigger_id', ''))}"


# What the user is told when a modal cannot be opened in the trigger's 3 seconds, by Slack's error.
_NOT_OPENED = {
    "ratelimited": "Slack is busy right now, so the form could not open. Please try again in a moment.",
    "expired_trigger_id": "Slack closed the window for opening the form before it could open. Please try again.",
    "exchanged_trigger_id": "Slack could not confirm that the form opened. If you do not see it, please try again.",
    "invalid_trigger_id": "Slack could not open the form. Please try again.",
    "internal_error": "Slack could not open the form just now. Please try again in a moment.",
    "service_unavailable": "Slack could not open the form just now. Please try again in a moment.",
}


def open_modal(
    deps: Deps, view: dict[str, Any], *, trigger_id: str, user: str, channel: str | None
) -> dict[str, Any] | None:
    """views.open; None when Slack could not open it in the trigger's life (busy, or the trigger ran out),
    after arranging to tell the user so (ephemeral, else a DM) once the ack is sent. Such a call is not
    retried (bot/slack/messenger.py TRIGGER_METHODS): a retry would come after the trigger is gone."""
    try:
        opened = deps.slack.views_open(trigger_id=trigger_id, view=view).data
    except SlackApiError as exc:
        text = _NOT_OPENED.get(str(exc.response.get("error") or ""))
        if text is None:
            raise
        reply_later(deps.dispatcher, f"modal-{trigger_id}", user, channel, text)
        return None
    return opened if isinstance(opened, dict) else {}
