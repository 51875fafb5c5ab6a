"""The Slack stand-in against Slack's own Web API spec (Swagger 2.0, slackapi/slack-api-specs).

The spec is stale (2020) and declares views.* as GET, so it is used for names: every method and
argument the stand-in accepts must exist there, and the stand-in's success answers must have
the shape the spec gives them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from engops.sandbox.base import RunningServer
from engops.sandbox.directory import demo_directory
from engops.sandbox.slack import METHODS, SlackStandIn
from tests.support.shared import shared_dir

SPEC_PATH = shared_dir() / "specs" / "slack" / "slack_web_openapi_v2.noexamples.json"
# Where the spec is wrong or older than Slack's documented answers, measured against it:
# cursor pagination's `response_metadata` and a message's `edited` are missing from its schemas,
# and chat.update declares `message.blocks` an object (Slack answers with the blocks array).
SPEC_QUIRKS: dict[str, list[tuple[str, ...]]] = {
    "*": [("response_metadata",)],
    "chat.update": [("message", "blocks")],
    "conversations.history": [("messages", "*", "edited")],
    "conversations.replies": [("messages", "*", "edited")],
}


def without(value: Any, path: tuple[str, ...]) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if head == "*" and isinstance(value, list):
        return [without(item, rest) for item in value]
    if isinstance(value, dict):
        if not rest:
            return {k: v for k, v in value.items() if k != head}
        return {k: (without(v, rest) if k == head else v) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    if not SPEC_PATH.exists():
        pytest.skip(f"Slack spec not found at {SPEC_PATH}")
    loaded: dict[str, Any] = json.loads(SPEC_PATH.read_text())
    return loaded


def operation(spec: dict[str, Any], method: str) -> tuple[str, dict[str, Any]]:
    verbs = spec["paths"].get(f"/{method}")
    assert verbs, f"{method} is not a Slack Web API method"
    assert len(verbs) == 1
    verb, op = next(iter(verbs.items()))
    return verb, op


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_and_argument_exists_in_the_spec(spec: dict[str, Any], method: str) -> None:
    verb, op = operation(spec, method)
    params = {p["name"]: p for p in op.get("parameters", [])}
    accepted = METHODS[method].args
    assert accepted <= set(params), f"{method}: not in the spec: {sorted(accepted - set(params))}"
    required = {name for name, p in params.items() if p.get("required") and name != "token"}
    assert required <= accepted, f"{method}: the stand-in does not take required {sorted(required - accepted)}"
    if METHODS[method].json_body:
        assert "application/json" in op.get("consumes", []), f"{method} does not take JSON bodies in Slack"
    if METHODS[method].read:
        assert verb == "get", f"{method} is not a read (GET) method in the spec"
    elif not method.startswith("views."):  # the spec's known quirk: views.* declared GET
        assert verb == "post"


@pytest.fixture(scope="module")
def answers() -> Iterator[dict[str, dict[str, Any]]]:
    """One successful answer of every method, produced through slack_sdk's WebClient."""
    slack = SlackStandIn.from_directory(demo_directory())
    with RunningServer(slack) as server:
        slack.base_url = server.url
        client = WebClient(token=slack.bot_token, base_url=f"{server.url}/api/")
        alice = slack.user("alice").id
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*REQ-1*"}}]
        posted = client.chat_postMessage(channel="#general", text="REQ-1", blocks=blocks)
        reply = client.chat_postMessage(channel=posted["channel"], text="note", thread_ts=posted["ts"])
        modal = {"type": "modal", "title": {"type": "plain_text", "text": "Hi"}, "blocks": blocks}
        opened = client.views_open(trigger_id=slack.issue_trigger(alice), view=modal)
        calls = {
            "auth.test": client.auth_test(),
            "chat.postMessage": reply,
            "chat.update": client.chat_update(channel=posted["channel"], ts=posted["ts"], text="REQ-1 done"),
            "chat.postEphemeral": client.chat_postEphemeral(channel=posted["channel"], user=alice, text="psst"),
            "chat.getPermalink": client.chat_getPermalink(channel=posted["channel"], message_ts=posted["ts"]),
            "users.info": client.users_info(user=alice),
            "users.lookupByEmail": client.users_lookupByEmail(email="alice@example.com"),
            "conversations.open": client.conversations_open(users=alice),
            "conversations.history": client.conversations_history(channel=posted["channel"]),
            "conversations.replies": client.conversations_replies(channel=posted["channel"], ts=posted["ts"]),
            "conversations.info": client.conversations_info(channel=posted["channel"]),
            "reactions.add": client.reactions_add(channel=posted["channel"], timestamp=posted["ts"], name="eyes"),
            "views.open": opened,
            "views.push": client.views_push(trigger_id=slack.issue_trigger(alice), view=modal),
            "views.update": client.views_update(view_id=opened["view"]["id"], view=modal),
            "views.publish": client.views_publish(user_id=alice, view={"type": "home", "blocks": blocks}),
        }
        yield {method: dict(resp.data) for method, resp in calls.items()}  # type: ignore[arg-type]


def test_every_method_was_exercised(answers: dict[str, dict[str, Any]]) -> None:
    assert set(answers) == set(METHODS)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_success_answers_match_the_spec_schema(
    spec: dict[str, Any], answers: dict[str, dict[str, Any]], method: str
) -> None:
    _, op = operation(spec, method)
    schema = {**op["responses"]["200"]["schema"], "definitions": spec["definitions"]}
    answer: Any = answers[method]
    for path in SPEC_QUIRKS["*"] + SPEC_QUIRKS.get(method, []):
        answer = without(answer, path)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in jsonschema.Draft4Validator(schema).iter_errors(answer)]
    assert errors == []


def test_error_answers_have_the_spec_error_shape(spec: dict[str, Any]) -> None:
    slack = SlackStandIn.from_directory(demo_directory())
    with RunningServer(slack) as server:
        client = WebClient(token=slack.bot_token, base_url=f"{server.url}/api/")
        with pytest.raises(SlackApiError) as caught:
            client.chat_postMessage(channel="#no-such-channel", text="x")
    answer = caught.value.response.data
    assert isinstance(answer, dict)
    _, op = operation(spec, "chat.postMessage")
    schema = {**op["responses"]["default"]["schema"], "definitions": spec["definitions"]}
    assert list(jsonschema.Draft4Validator(schema).iter_errors(answer)) == []
    assert answer["error"] == "channel_not_found"


def test_user_objects_match_the_spec_user_schema(spec: dict[str, Any], answers: dict[str, dict[str, Any]]) -> None:
    # objs_user is declared as a list of alternatives under `items`, which validators skip for objects.
    schema = {**spec["definitions"]["objs_user"]["items"][0], "definitions": spec["definitions"]}
    for method in ("users.info", "users.lookupByEmail"):
        user = answers[method]["user"]
        assert list(jsonschema.Draft4Validator(schema).iter_errors(user)) == []
        assert user["profile"]["email"] == "alice@example.com"
