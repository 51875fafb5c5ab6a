"""Modal views (pure builders) for access requests and deny reasons."""

from __future__ import annotations

import json
from typing import Any

from bot.slack.escape import truncate

ACCESS_CALLBACK = "access_request"
DENY_CALLBACK = "deny_reason"
GROUP_ACTION = "group"


def _plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def group_option(name: str, description: str) -> dict[str, Any]:
    option: dict[str, Any] = {"text": _plain(truncate(name, 75)), "value": name}
    if description:
        option["description"] = _plain(truncate(description, 75))
    return option


def access_modal(
    *,
    channel_id: str | None,
    group: str | None = None,
    group_description: str = "",
    duration: str | None = None,
    reason: str | None = None,
    on_behalf: bool = False,
    duration_hint: str = "",
) -> dict[str, Any]:
    group_select: dict[str, Any] = {
        "type": "external_select",
        "action_id": GROUP_ACTION,
        "placeholder": _plain("Type to search the groups you can request"),
        "min_query_length": 0,
    }
    if group:
        group_select["initial_option"] = group_option(group, group_description)
    duration_input: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "duration",
        "placeholder": _plain("e.g. 8h, 2d, 30m"),
    }
    if duration:
        duration_input["initial_value"] = duration
    reason_input: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "reason",
        "multiline": True,
        "max_length": 2000,
    }
    if reason:
        reason_input["initial_value"] = reason[:2000]
    blocks: list[dict[str, Any]] = [
        {"type": "input", "block_id": "group", "label": _plain("Okta group"), "element": group_select},
        {
            "type": "input",
            "block_id": "duration",
            "label": _plain("Duration"),
            "optional": True,
            "element": duration_input,
            "hint": _plain(duration_hint or "How long you need it; required for some groups"),
        },
        {"type": "input", "block_id": "reason", "label": _plain("Justification"), "element": reason_input},
    ]
    if on_behalf:
        blocks.append(
            {
                "type": "input",
                "block_id": "on_behalf",
                "optional": True,
                "label": _plain("On behalf of (help desk)"),
                "element": {
                    "type": "users_select",
                    "action_id": "on_behalf",
                    "placeholder": _plain("Leave empty to request for yourself"),
                },
            }
        )
    return {
        "type": "modal",
        "callback_id": ACCESS_CALLBACK,
        "title": _plain("Request access"),
        "submit": _plain("Submit"),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps({"channel_id": channel_id}),
        "blocks": blocks,
    }


def deny_modal(request_id: int, channel_id: str | None) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": DENY_CALLBACK,
        "title": _plain("Deny request"),
        "submit": _plain("Deny"),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps({"request_id": request_id, "channel_id": channel_id}),
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"Why are you denying *REQ-{request_id}*? The requester will see your reason.",
                },
            },
            {
                "type": "input",
                "block_id": "reason",
                "label": _plain("Reason"),
                "element": {"type": "plain_text_input", "action_id": "reason", "multiline": True, "max_length": 1000},
            },
        ],
    }


def done_modal(title: str, text: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": _plain(truncate(title, 24)),
        "close": _plain("Close"),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }


def state_value(view: dict[str, Any], block_id: str) -> str | None:
    """The submitted value of an input block, whatever its element type."""
    block = view.get("state", {}).get("values", {}).get(block_id, {})
    for element in block.values():
        kind = element.get("type")
        if kind == "plain_text_input":
            value = element.get("value")
            return str(value) if value is not None else None
        if kind in ("static_select", "external_select"):
            selected = element.get("selected_option")
            return str(selected["value"]) if selected else None
        if kind == "users_select":
            user = element.get("selected_user")
            return str(user) if user else None
        if kind == "datepicker":
            date = element.get("selected_date")
            return str(date) if date else None
    return None
