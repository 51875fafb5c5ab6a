"""manifest.json: valid against Slack's schema, generated from one source, and in step with the listeners."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import jsonschema
import pytest

from bot.slack.manifest import (
    BOT_EVENTS,
    BOT_SCOPES,
    GLOBAL_SHORTCUTS,
    MESSAGE_SHORTCUTS,
    SLASH_COMMANDS,
    build_manifest,
)
from engops.sandbox.slack.scopes import EVENT_SCOPES
from engops.sandbox.stack import Stack
from tests.support.shared import shared_dir

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = shared_dir() / "specs" / "slack"


@pytest.mark.parametrize("version", ["1.0.0", "2.0.0"])
def test_manifest_is_valid_against_the_official_schema(version: str) -> None:
    schema = json.loads((SCHEMAS / f"manifest.schema.{version}.json").read_text())
    shipped = json.loads((ROOT / "manifest.json").read_text())
    jsonschema.validate(shipped, schema)
    jsonschema.validate(build_manifest("https://x.example", socket=True), schema)


def test_shipped_manifest_is_the_generated_one() -> None:
    assert json.loads((ROOT / "manifest.json").read_text()) == build_manifest()


def _registered(stack: Stack, kind: str) -> set[str]:
    """String constraints of the Bolt listeners of one kind (command, shortcut, ...)."""
    assert stack.web is not None
    bolt = stack.web.services.web_app().bolt
    found: set[str] = set()
    for listener in bolt._listeners:
        for matcher in listener.matchers:
            func = getattr(matcher, "func", None)
            if func is None or not func.__qualname__.startswith(f"{kind}.<locals>"):
                continue
            for value in inspect.getclosurevars(func).nonlocals.values():
                if isinstance(value, str):
                    found.add(value)
                elif isinstance(value, dict) and isinstance(value.get("callback_id"), str):
                    found.add(value["callback_id"])
    return found


def test_every_manifest_command_and_shortcut_has_a_listener_and_vice_versa(stack: Stack) -> None:
    assert _registered(stack, "command") == set(SLASH_COMMANDS)
    assert _registered(stack, "shortcut") == set(GLOBAL_SHORTCUTS) | set(MESSAGE_SHORTCUTS)


def test_every_subscribed_event_has_a_listener_and_the_scope_slack_sends_it_with(stack: Stack) -> None:
    assert set(BOT_EVENTS) == _registered(stack, "event")
    for event in BOT_EVENTS:
        assert set(EVENT_SCOPES[event]) <= set(BOT_SCOPES), event  # reaction_added: reactions:read


def test_every_manifest_command_answers_for_real(stack: Stack) -> None:
    assert stack.driver is not None
    for command in SLASH_COMMANDS:
        before = len(stack.driver.ephemerals("grace"))
        resp = stack.driver.command("grace", command, "")
        assert resp.status == 200, command
        shown = stack.driver.ephemerals("grace")[before:]
        assert not any("don't know the command" in e.text for e in shown), command
