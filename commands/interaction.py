"""Small helpers for reading Slack interaction payloads."""

from __future__ import annotations

import json
from typing import Any


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
