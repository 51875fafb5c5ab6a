"""What Slack refuses in Block Kit: `slack_sdk.models` plus the limits and rules it does not enforce.

Blocks and views the app sends are reported as Slack reports them (`[ERROR] ... [json-pointer:...]`);
options the app suggests and modals a person submits are checked as Slack's client checks them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from engops.sandbox.slack.blocks import (
    BUTTON_TYPES,
    MULTI_TYPES,
    elements_of,
    is_empty,
    state_field,
    stateful_elements,
    text_of,
)
from engops.sandbox.slack.errors import SlackProtocolError

MESSAGE_MAX_BLOCKS = 50
VIEW_MAX_BLOCKS = 100
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


# Keys whose value Slack requires to be a text object ({"type": "plain_text" | "mrkdwn", "text": ...}), never a bare
# string: the SDK models accept a string there and make it an object, so they cannot tell.
_TEXT_OBJECT_KEYS = frozenset({"text", "placeholder", "label", "hint", "title", "description", "submit", "close"})
_CONFIRM_TEXT_KEYS = frozenset({"title", "text", "confirm", "deny"})
# Rich text's own elements carry plain strings under "text" ({"type": "text", "text": "hi"}).
_RICH_TEXT_PARTS = frozenset({"text", "link", "emoji", "user", "usergroup", "channel", "broadcast", "date", "color"})


def bare_texts(node: Any, where: str) -> Iterator[str]:
    """A pointer to every place a string stands where Slack wants a text object ("must provide an object")."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from bare_texts(item, f"{where}/{i}")
        return
    if (
        not isinstance(node, dict)
        or node.get("type") in ("plain_text", "mrkdwn")
        or node.get("type") in _RICH_TEXT_PARTS
    ):
        return
    for key, value in node.items():
        if isinstance(value, str) and key in _TEXT_OBJECT_KEYS:
            yield f"{where}/{key}"
        elif key == "confirm" and isinstance(value, dict):
            yield from (f"{where}/confirm/{k}" for k in _CONFIRM_TEXT_KEYS if isinstance(value.get(k), str))
        elif key in ("fields", "elements") and isinstance(value, list) and any(isinstance(f, str) for f in value):
            yield from (f"{where}/{key}/{i}" for i, f in enumerate(value) if isinstance(f, str))
        elif isinstance(value, dict | list):
            yield from bare_texts(value, f"{where}/{key}")


def _is_plain_text(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("type") == "plain_text"


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
    for element in elements_of(block):
        if element.get("type") in BUTTON_TYPES and not _is_plain_text(element.get("text")):
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
        errors.extend(f"[ERROR] must provide an object [json-pointer:{p}]" for p in bare_texts(raw, where))
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


def suggested_options(answer: Any) -> list[dict[str, Any]]:
    """Options from a block_suggestion answer, checked against Slack's limits (else Slack shows none)."""
    if not isinstance(answer, dict):
        raise SlackProtocolError(f"options answer must be a JSON object, got {answer!r}")
    if "option_groups" in answer:
        groups = answer["option_groups"]
        if len(groups) > 100:
            raise SlackProtocolError("more than 100 option groups")
        options = [o for g in groups for o in g.get("options", [])]
    else:
        listed = answer.get("options")
        if not isinstance(listed, list):
            raise SlackProtocolError(f"options answer without options: {answer}")
        options = listed
        if len(options) > 100:
            raise SlackProtocolError("more than 100 options")
    for option in options:
        text = option.get("text") if isinstance(option, dict) else None
        if not isinstance(text, dict) or text.get("type") != "plain_text" or not 0 < len(str(text.get("text"))) <= 75:
            raise SlackProtocolError(f"option text must be plain_text of 1-75 characters: {option}")
        if not 0 < len(str(option.get("value", ""))) <= 150:
            raise SlackProtocolError(f"option value must be 1-150 characters: {option}")
    return list(options)


def submit_refusal(blocks: list[dict[str, Any]], values: dict[str, dict[str, dict[str, Any]]]) -> str | None:
    """Why Slack's client would not send a view_submission for these inputs and `state.values`; None if it would."""
    for block, element in stateful_elements(blocks):
        if block.get("type") != "input":
            continue
        state = values[block["block_id"]][element["action_id"]]
        label = text_of(block.get("label")) or block["block_id"]
        if is_empty(state):
            if not block.get("optional"):
                return f"required field {label!r} is empty; Slack will not submit"
            continue
        if element["type"] == "plain_text_input":
            text = str(state["value"])
            if len(text) < int(element.get("min_length", 0)):
                return f"{label!r} is shorter than {element['min_length']} characters"
            if "max_length" in element and len(text) > int(element["max_length"]):
                return f"{label!r} is longer than {element['max_length']} characters"
        chosen = state[state_field(element["type"])]
        if element["type"] in MULTI_TYPES and len(chosen) > int(element.get("max_selected_items", len(chosen))):
            return f"{label!r} allows at most {element['max_selected_items']} items"
    return None
