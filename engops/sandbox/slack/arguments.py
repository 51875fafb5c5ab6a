"""Arguments as Slack reads them: form strings or JSON, booleans, required fields, and the message
content and views a method takes, refused with the error code Slack gives (`SlackError`)."""

from __future__ import annotations

import json
from typing import Any

from engops.sandbox.slack.checks import MESSAGE_MAX_BLOCKS, block_errors, view_errors
from engops.sandbox.slack.errors import SlackError

MESSAGE_MAX_TEXT = 40_000
MESSAGE_MAX_ATTACHMENTS = 100


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes")


def as_json(value: Any, error: str, what: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise SlackError(error, f"[ERROR] {what} is not valid JSON: {exc.msg}") from None
    return value


def require(args: dict[str, Any], name: str, error: str = "invalid_arguments") -> str:
    value = args.get(name)
    if value is None or str(value) == "":
        raise SlackError(error, f"[ERROR] missing required field: {name}")
    return str(value)


def message_content(args: dict[str, Any], *, required: bool = True) -> tuple[str, list[Any], list[Any]]:
    """A message's text, blocks and attachments, checked; the blocks do not have their ids filled in yet."""
    text = str(args.get("text", ""))
    blocks: list[Any] = []
    if "blocks" in args:
        blocks = as_json(args["blocks"], "invalid_blocks_format", "blocks")
        if not isinstance(blocks, list):
            raise SlackError("invalid_blocks_format", "[ERROR] must be an array [json-pointer:/blocks]")
        problems = block_errors(blocks, MESSAGE_MAX_BLOCKS)
        if problems:
            raise SlackError("invalid_blocks", *problems)
    attachments: list[Any] = []
    if "attachments" in args:
        attachments = as_json(args["attachments"], "invalid_attachments", "attachments")
        if not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments):
            raise SlackError("invalid_attachments")
        if len(attachments) > MESSAGE_MAX_ATTACHMENTS:
            raise SlackError("too_many_attachments")
    if required and not text.strip() and not blocks and not attachments:
        raise SlackError("no_text")
    if len(text) > MESSAGE_MAX_TEXT:
        raise SlackError("msg_too_long")
    return text, blocks, attachments


def view_content(args: dict[str, Any], kind: str) -> dict[str, Any]:
    """The `view` argument, checked as a view of this type (modal or home); its block ids not filled in yet."""
    raw = args.get("view")
    view = as_json(raw, "invalid_arguments", "view") if raw is not None else None
    if not isinstance(view, dict):
        raise SlackError("invalid_arguments", "[ERROR] missing required field: view")
    problems = view_errors(view, kind)
    if problems:
        raise SlackError("invalid_arguments", *problems)
    return dict(view)
