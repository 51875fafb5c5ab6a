"""Slack wants a text object ({"type": "plain_text" | "mrkdwn", "text": ...}) wherever Block Kit shows text, and
answers `invalid_blocks` ("must provide an object") to a bare string there. slack_sdk's models quietly turn such a
string into an object, so the stand-in checks it itself; rich text's own parts do carry plain strings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from engops.sandbox.base import RunningServer
from engops.sandbox.directory import demo_directory
from engops.sandbox.slack import SlackStandIn

PLAIN = {"type": "plain_text", "text": "Approve"}
BARE_TEXT_BLOCKS = [
    [{"type": "section", "text": "hi"}],
    [{"type": "section", "fields": ["a", {"type": "mrkdwn", "text": "b"}]}],
    [{"type": "actions", "elements": [{"type": "button", "action_id": "a", "text": "Approve"}]}],
    [{"type": "context", "elements": [{"type": "image", "image_url": "https://x/y.png", "alt_text": "y"}, "z"]}],
    [
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": "a",
                    "text": PLAIN,
                    "confirm": {"title": "Sure?", "text": PLAIN, "confirm": PLAIN, "deny": PLAIN},
                }
            ],
        }
    ],
    [
        {
            "type": "actions",
            "elements": [
                {
                    "type": "static_select",
                    "action_id": "s",
                    "placeholder": "Pick",
                    "options": [{"text": PLAIN, "value": "1"}],
                }
            ],
        }
    ],
    [
        {
            "type": "actions",
            "elements": [
                {"type": "static_select", "action_id": "s", "options": [{"text": "One", "value": "1"}]},
            ],
        }
    ],
]


@pytest.fixture
def client() -> Iterator[WebClient]:
    slack = SlackStandIn.from_directory(demo_directory())
    with RunningServer(slack) as server:
        yield WebClient(token=slack.bot_token, base_url=f"{server.url}/api/")


@pytest.mark.parametrize("blocks", BARE_TEXT_BLOCKS)
def test_a_bare_string_where_slack_wants_a_text_object_is_invalid_blocks(
    client: WebClient, blocks: list[dict[str, Any]]
) -> None:
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel="#general", text="x", blocks=blocks)
    assert refused.value.response["error"] == "invalid_blocks"
    assert any("must provide an object" in m for m in refused.value.response["response_metadata"]["messages"])


def test_rich_text_parts_and_the_same_blocks_with_text_objects_are_accepted(client: WebClient) -> None:
    rich = {
        "type": "rich_text",
        "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": "plain words"}]}],
    }
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}, "fields": [PLAIN]}
    button = {"type": "button", "action_id": "a", "text": PLAIN, "confirm": {"title": PLAIN, "text": PLAIN}}
    posted = client.chat_postMessage(
        channel="#general", text="x", blocks=[rich, section, {"type": "actions", "elements": [button]}]
    )
    assert posted["ok"]
