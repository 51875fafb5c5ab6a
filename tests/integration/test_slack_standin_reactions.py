"""Reactions in the Slack stand-in, as Slack has them: reactions.add refuses what Slack refuses and needs
reactions:write; a message shows its reactions; conversations.info needs the read scope of the conversation's type;
a person's reaction reaches the app as `reaction_added` (Events API shape) only where Slack would send it — the app
subscribes to it, its token holds reactions:read, it is in the channel."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.manifest import BOT_EVENTS, BOT_SCOPES
from engops.sandbox.base import RunningServer
from engops.sandbox.directory import demo_directory
from engops.sandbox.slack import SlackStandIn
from engops.sandbox.slack_driver import SlackDriver, SlackDriverError

SECRET = "reactions-test-signing-secret"


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    stand_in = SlackStandIn.from_directory(demo_directory())
    with RunningServer(stand_in) as server:
        stand_in.base_url = server.url
        yield stand_in


def client_for(slack: SlackStandIn, token: str | None = None) -> WebClient:
    return WebClient(token=token or slack.bot_token, base_url=f"{slack.base_url}/api/")


def refusal(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as caught:
        call()
    data = caught.value.response.data
    assert isinstance(data, dict) and data["ok"] is False
    return data


class EventsApp:
    """Records the Events API requests it is sent (bodies as JSON) and acks them."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        self.events.append(json.loads(body))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b""]


@pytest.fixture
def app() -> Iterator[tuple[EventsApp, str]]:
    recorder = EventsApp()
    with RunningServer(recorder) as served:
        yield recorder, served.url


def test_the_bot_reacts_once_per_emoji_and_the_message_shows_it(slack: SlackStandIn) -> None:
    client = client_for(slack)
    said = slack.post_as_user("carol", "#it-help", "VPN is down")
    assert client.reactions_add(channel=said.channel, timestamp=said.ts, name="white_check_mark")["ok"] is True
    slack.react("hank", "#it-help", said.ts, "thumbsup")  # stored as Slack stores it
    [shown] = client.conversations_history(channel=said.channel)["messages"]
    assert shown["reactions"] == [
        {"name": "white_check_mark", "users": [slack.bot_user_id], "count": 1},
        {"name": "+1", "users": [slack.user("hank").id], "count": 1},
    ]
    again = refusal(lambda: client.reactions_add(channel=said.channel, timestamp=said.ts, name="white_check_mark"))
    assert again["error"] == "already_reacted"


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"name": "not_an_emoji_at_all"}, "invalid_name"),
        ({"name": ":eyes:"}, "invalid_name"),
        ({"timestamp": "1700000000.999999"}, "message_not_found"),
        ({"timestamp": "yesterday"}, "bad_timestamp"),
        ({"channel": "C99999999"}, "channel_not_found"),
    ],
)
def test_reactions_add_refuses_what_slack_refuses(slack: SlackStandIn, arguments: dict[str, str], error: str) -> None:
    said = slack.post_as_user("carol", "#it-help", "VPN is down")
    call = {"channel": said.channel, "timestamp": said.ts, "name": "eyes", **arguments}
    assert refusal(lambda: client_for(slack).reactions_add(**call))["error"] == error
    assert slack.reactions("#it-help", said.ts) == {}


def test_a_custom_emoji_can_be_used_once_the_workspace_has_it(slack: SlackStandIn) -> None:
    said = slack.post_as_user("carol", "#it-help", "VPN is down")
    client = client_for(slack)
    assert refusal(lambda: client.reactions_add(channel=said.channel, timestamp=said.ts, name="party-parrot"))
    slack.add_emoji("party-parrot")
    assert client.reactions_add(channel=said.channel, timestamp=said.ts, name="party-parrot")["ok"] is True


def test_reactions_add_needs_reactions_write(slack: SlackStandIn) -> None:
    said = slack.post_as_user("carol", "#it-help", "VPN is down")
    client = client_for(slack, slack.issue_bot_token(without={"reactions:write"}))
    data = refusal(lambda: client.reactions_add(channel=said.channel, timestamp=said.ts, name="eyes"))
    assert (data["error"], data["needed"]) == ("missing_scope", "reactions:write")
    assert "reactions:write" in BOT_SCOPES and "reactions:read" in BOT_SCOPES


def test_conversations_info_needs_the_read_scope_of_the_conversations_type(slack: SlackStandIn) -> None:
    public = slack.channel("#it-help")
    private = slack.add_channel("payroll-ops", private=True)
    outside = slack.add_channel("hr-private", private=True, bot_member=False)
    client = client_for(slack)
    info = client.conversations_info(channel=public.id)["channel"]
    assert (info["id"], info["name"], info["is_channel"], info["is_private"]) == (public.id, "it-help", True, False)
    assert client.conversations_info(channel=private.id)["channel"]["is_group"] is True
    assert refusal(lambda: client.conversations_info(channel=outside.id))["error"] == "channel_not_found"
    no_groups = client_for(slack, slack.issue_bot_token(without={"groups:read"}))
    assert refusal(lambda: no_groups.conversations_info(channel=private.id))["needed"] == "groups:read"
    assert no_groups.conversations_info(channel=public.id)["ok"] is True
    no_channels = client_for(slack, slack.issue_bot_token(without={"channels:read"}))
    assert refusal(lambda: no_channels.conversations_info(channel=public.id))["needed"] == "channels:read"


def test_a_persons_reaction_is_sent_to_the_app_as_reaction_added(
    slack: SlackStandIn, app: tuple[EventsApp, str]
) -> None:
    recorder, url = app
    driver = SlackDriver(url, SECRET, slack)
    said = slack.post_as_user("carol", "#it-help", "VPN is down")
    sent = driver.react("hank", said, "eyes")
    assert sent is not None and sent.status == 200 and "reaction_added" in BOT_EVENTS
    [envelope] = recorder.events
    assert envelope["type"] == "event_callback" and envelope["event_id"] == sent.event_id
    event = envelope["event"]
    assert event == {
        "type": "reaction_added",
        "user": slack.user("hank").id,
        "reaction": "eyes",
        "item_user": slack.user("carol").id,
        "item": {"type": "message", "channel": said.channel, "ts": said.ts},
        "event_ts": event["event_ts"],
    }
    with pytest.raises(SlackDriverError, match="already_reacted"):
        driver.react("hank", said, "eyes")  # Slack's client takes it back instead
    assert driver.unreact("hank", said, "eyes") is None  # reaction_removed: the app does not subscribe to it
    assert driver.react("hank", said, "eyes") is not None  # a second reaction: a new event
    assert len(recorder.events) == 2 and recorder.events[1]["event_id"] != envelope["event_id"]
    again = driver.redeliver(sent)
    assert json.loads(again.request_body)["event_id"] == envelope["event_id"]
    assert again.request_headers["X-Slack-Retry-Num"] == "1"
    assert int(again.request_headers["X-Slack-Request-Timestamp"]) > int(
        sent.request_headers["X-Slack-Request-Timestamp"]
    )


def test_no_reaction_event_without_reactions_read_or_outside_the_apps_channels(app: tuple[EventsApp, str]) -> None:
    recorder, url = app
    unscoped = SlackStandIn.from_directory(demo_directory(), bot_scopes=set(BOT_SCOPES) - {"reactions:read"})
    said = unscoped.post_as_user("carol", "#it-help", "VPN is down")
    assert SlackDriver(url, SECRET, unscoped).react("hank", said, "eyes") is None
    assert unscoped.reactions("#it-help", said.ts) == {"eyes": [unscoped.user("hank").id]}  # the person still reacted
    slack = SlackStandIn.from_directory(demo_directory())
    slack.add_channel("random", bot_member=False)
    elsewhere = slack.post_as_user("carol", "#random", "lunch?")
    assert SlackDriver(url, SECRET, slack).react("hank", elsewhere, "eyes") is None
    assert recorder.events == []
