"""Reading Block Kit as Slack does: a block's elements, their visible labels and options, and the
state Slack reports for them (`state.values`). The stand-in, the driver (what a person can click,
pick and submit) and the console all read blocks through here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

BUTTON_TYPES = frozenset({"button", "workflow_button"})

_STATE_FIELDS: dict[str, tuple[str, str]] = {
    # element type -> (field in state.values, the element's initial_* field)
    "plain_text_input": ("value", "initial_value"),
    "email_text_input": ("value", "initial_value"),
    "url_text_input": ("value", "initial_value"),
    "number_input": ("value", "initial_value"),
    "static_select": ("selected_option", "initial_option"),
    "external_select": ("selected_option", "initial_option"),
    "radio_buttons": ("selected_option", "initial_option"),
    "multi_static_select": ("selected_options", "initial_options"),
    "multi_external_select": ("selected_options", "initial_options"),
    "checkboxes": ("selected_options", "initial_options"),
    "users_select": ("selected_user", "initial_user"),
    "multi_users_select": ("selected_users", "initial_users"),
    "conversations_select": ("selected_conversation", "initial_conversation"),
    "multi_conversations_select": ("selected_conversations", "initial_conversations"),
    "channels_select": ("selected_channel", "initial_channel"),
    "multi_channels_select": ("selected_channels", "initial_channels"),
    "datepicker": ("selected_date", "initial_date"),
    "timepicker": ("selected_time", "initial_time"),
}
MULTI_TYPES = {t for t, (f, _) in _STATE_FIELDS.items() if f.endswith("s") and f.startswith("selected_")}
TEXT_INPUTS = {t for t, (f, _) in _STATE_FIELDS.items() if f == "value"}
SINGLE_OPTION_TYPES = {"static_select", "radio_buttons"}  # options listed in the element
MULTI_OPTION_TYPES = {"multi_static_select", "checkboxes"}
EXTERNAL_SELECTS = {"external_select", "multi_external_select"}  # options the app suggests as the user types


def text_of(obj: Any) -> str:
    """The text of a text object (a label, a placeholder, a section's text)."""
    if isinstance(obj, dict):
        return str(obj.get("text", ""))
    return str(obj or "")


def elements_of(block: dict[str, Any]) -> list[dict[str, Any]]:
    """A block's elements a person can act on: its accessory, its input element, or an actions block's."""
    found: list[dict[str, Any]] = []
    if isinstance(block.get("accessory"), dict):
        found.append(block["accessory"])
    if isinstance(block.get("element"), dict):
        found.append(block["element"])
    if block.get("type") == "actions":
        found.extend(e for e in block.get("elements", []) if isinstance(e, dict))
    return found


def is_interactive(element: dict[str, Any]) -> bool:
    """An element Slack gives an action_id to when the app leaves it out."""
    kind = element.get("type")
    return kind in _STATE_FIELDS or kind in BUTTON_TYPES or kind == "overflow"


def button_labels(blocks: list[dict[str, Any]]) -> list[str]:
    return [text_of(e.get("text")) for b in blocks for e in elements_of(b) if e.get("type") in BUTTON_TYPES]


def options_of(element: dict[str, Any]) -> list[dict[str, Any]]:
    """A select's options, those in option groups included."""
    options = list(element.get("options", []))
    for group in element.get("option_groups", []):
        options.extend(group.get("options", []))
    return options


def find_option(options: list[dict[str, Any]], wanted: Any) -> dict[str, Any] | None:
    """The option with this value or visible text."""
    return next((o for o in options if wanted in (o.get("value"), text_of(o.get("text")))), None)


# --------------------------------------------------------------------------------------------
# State: what Slack reports in `state.values` for each stateful element
# --------------------------------------------------------------------------------------------
def state_field(element_type: str) -> str:
    return _STATE_FIELDS[element_type][0]


def state_value(element_type: str, value: Any) -> dict[str, Any]:
    """One element's entry in `state.values`."""
    return {"type": element_type, state_field(element_type): value}


def initial_state(element: dict[str, Any]) -> dict[str, Any]:
    initial = element.get(_STATE_FIELDS[element["type"]][1])
    if initial is None and element["type"] in MULTI_TYPES:
        initial = []
    return state_value(element["type"], initial)


def is_empty(state: dict[str, Any]) -> bool:
    value = state.get(state_field(state["type"]))
    return value is None or value == "" or value == []


def stateful_elements(blocks: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for block in blocks:
        for element in elements_of(block):
            if element.get("type") in _STATE_FIELDS and "action_id" in element and "block_id" in block:
                yield block, element


def state_values(
    blocks: list[dict[str, Any]], chosen: dict[str, dict[str, dict[str, Any]]] | None = None
) -> dict[str, dict[str, dict[str, Any]]]:
    """`state.values`: every stateful element, as the user `chosen` it (block_id -> action_id) or initial."""
    values: dict[str, dict[str, dict[str, Any]]] = {}
    for block, element in stateful_elements(blocks):
        block_id, action_id = block["block_id"], element["action_id"]
        picked = (chosen or {}).get(block_id, {}).get(action_id)
        values.setdefault(block_id, {})[action_id] = picked if picked is not None else initial_state(element)
    return values
