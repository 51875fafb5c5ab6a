"""The Slack driver signs like Slack and builds Slack's payloads, checked against a tiny fake app.

The fake app verifies every request with slack_sdk's SignatureVerifier (as Bolt does), records
what it received and answers what the test tells it to.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from engops.sandbox.base import RunningServer
from engops.sandbox.directory import demo_directory
from engops.sandbox.slack import SlackProtocolError, SlackStandIn
from engops.sandbox.slack_driver import SlackDriver, SlackDriverError, sign

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
PAYLOADS = Path(__file__).resolve().parents[1] / "payloads"

Answer = tuple[int, str, bytes]  # status, content type, body


@dataclass
class Received:
    headers: dict[str, str]
    kind: str  # "command" | an interaction type | "event"
    data: dict[str, Any]


@dataclass
class FakeApp:
    """A WSGI app that checks Slack's signature, records each request and answers as told."""

    answers: dict[str, Callable[[dict[str, Any]], Answer]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        verifier = SignatureVerifier(SECRET)
        timestamp, signature = headers.get("X-Slack-Request-Timestamp"), headers.get("X-Slack-Signature")
        ok = bool(timestamp and signature) and verifier.is_valid(body.decode(), timestamp, signature)
        if not ok:
            start_response("401 Unauthorized", [("Content-Type", "text/plain")])
            return [b"invalid signature"]
        if environ.get("CONTENT_TYPE", "").startswith("application/json"):
            data, kind = json.loads(body), "event"
        else:
            form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
            if "payload" in form:
                data = json.loads(form["payload"])
                kind = data["type"]
            else:
                data, kind = form, "command"
        self.received.append(Received(headers, kind, data))
        status, content_type, answer = self.answers.get(kind, plain_ack)(data)
        start_response(f"{status} X", [("Content-Type", content_type)])
        return [answer]

    def last(self, kind: str) -> dict[str, Any]:
        return next(r.data for r in reversed(self.received) if r.kind == kind)


def plain_ack(_: dict[str, Any]) -> Answer:
    return 200, "text/plain", b""


def json_answer(body: dict[str, Any]) -> Callable[[dict[str, Any]], Answer]:
    return lambda _: (200, "application/json", json.dumps(body).encode())


@pytest.fixture
def env() -> Iterator[tuple[SlackDriver, SlackStandIn, FakeApp, WebClient]]:
    slack = SlackStandIn.from_directory(demo_directory())
    app = FakeApp()
    with RunningServer(slack) as slack_server, RunningServer(app) as app_server:
        slack.base_url = slack_server.url
        client = WebClient(token=slack.bot_token, base_url=f"{slack_server.url}/api/")
        yield SlackDriver(app_server.url, SECRET, slack), slack, app, client


def button(label: str, action_id: str, value: str, **extra: str) -> dict[str, Any]:
    text = {"type": "plain_text", "text": label}
    return {"type": "button", "text": text, "action_id": action_id, "value": value, **extra}


def card(req: str) -> list[dict[str, Any]]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{req}* alice asks for aws-sandbox-admins"}},
        {
            "type": "actions",
            "elements": [button("Approve", "approve", req, style="primary"), button("Deny", "deny", req)],
        },
    ]


OPTIONS = [
    {"text": {"type": "plain_text", "text": "Low"}, "value": "4"},
    {"text": {"type": "plain_text", "text": "High"}, "value": "2"},
]
FORM: dict[str, Any] = {
    "type": "modal",
    "callback_id": "access_request",
    "title": {"type": "plain_text", "text": "Request access"},
    "submit": {"type": "plain_text", "text": "Submit"},
    "notify_on_close": True,
    "blocks": [
        {
            "type": "input",
            "block_id": "group",
            "label": {"type": "plain_text", "text": "Okta group"},
            "element": {"type": "external_select", "action_id": "group", "min_query_length": 2},
        },
        {
            "type": "input",
            "block_id": "why",
            "label": {"type": "plain_text", "text": "Justification"},
            "element": {"type": "plain_text_input", "action_id": "why", "max_length": 50},
        },
        {
            "type": "input",
            "block_id": "urgency",
            "label": {"type": "plain_text", "text": "Urgency"},
            "element": {"type": "static_select", "action_id": "urgency", "options": OPTIONS},
        },
        {
            "type": "input",
            "block_id": "who",
            "optional": True,
            "label": {"type": "plain_text", "text": "On behalf of"},
            "element": {"type": "users_select", "action_id": "who"},
        },
        {
            "type": "input",
            "block_id": "until",
            "optional": True,
            "label": {"type": "plain_text", "text": "Until"},
            "element": {"type": "datepicker", "action_id": "until", "initial_date": "2030-01-31"},
        },
        {
            "type": "input",
            "block_id": "tags",
            "optional": True,
            "label": {"type": "plain_text", "text": "Tags"},
            "element": {"type": "multi_static_select", "action_id": "tags", "options": OPTIONS},
        },
        {
            "type": "input",
            "block_id": "kind",
            "label": {"type": "plain_text", "text": "Kind"},
            "element": {"type": "radio_buttons", "action_id": "kind", "options": OPTIONS, "initial_option": OPTIONS[0]},
        },
    ],
}
GROUP_OPTIONS = {
    "options": [
        {"text": {"type": "plain_text", "text": "aws-sandbox-admins"}, "value": "aws-sandbox-admins"},
        {"text": {"type": "plain_text", "text": "zoom-users"}, "value": "zoom-users"},
    ]
}


def open_form(slack: SlackStandIn, client: WebClient, user: str = "alice", view: dict[str, Any] = FORM) -> str:
    return str(client.views_open(trigger_id=slack.issue_trigger(user), view=view)["view"]["id"])


# --- signing -------------------------------------------------------------------------------------------
def test_signature_is_the_one_slack_sdk_verifies() -> None:
    verifier = SignatureVerifier(SECRET)
    body = "token=x&command=%2Faccess&text=zoom-users+8h"
    ts = str(int(time.time()))
    signature = sign(SECRET, ts, body.encode())
    assert signature == verifier.generate_signature(timestamp=ts, body=body)
    assert verifier.is_valid(body, ts, signature)
    assert not verifier.is_valid(body + "x", ts, signature)
    assert sign("other-secret", ts, body.encode()) != signature


def test_unsigned_stale_and_forged_requests_reach_the_app_as_sent(env: Any) -> None:
    driver, _, app, _ = env
    body = b'{"type":"event_callback","event":{"type":"app_home_opened"}}'
    assert driver.raw(body, {"Content-Type": "application/json"}).status == 401
    stale = driver.signed_headers(body, "application/json", timestamp=time.time() - 600)
    assert driver.raw(body, stale).status == 401
    forged = {**driver.signed_headers(body, "application/json"), "X-Slack-Signature": "v0=" + "0" * 64}
    assert driver.raw(body, forged).status == 401
    assert driver.raw(body, driver.signed_headers(body, "application/json")).status == 200
    assert len(app.received) == 1


# --- commands --------------------------------------------------------------------------------------------
def test_command_form_has_slacks_fields_and_a_live_trigger(env: Any) -> None:
    driver, slack, app, client = env
    response = driver.command("alice@example.com", "/access", "aws-sandbox-admins 8h on call", channel="#it-engops")
    assert response.status == 200
    sent = app.last("command")
    expected = json.loads((PAYLOADS / "slash_command.json").read_text())
    assert set(sent) == set(expected) - {"_comment"}
    assert sent["user_id"] == slack.user("alice").id and sent["channel_id"] == slack.channel("#it-engops").id
    assert sent["channel_name"] == "it-engops" and sent["text"] == "aws-sandbox-admins 8h on call"
    client.views_open(trigger_id=sent["trigger_id"], view=FORM)  # the trigger works once, at the stand-in
    assert slack.current_view("alice").callback_id == "access_request"


def test_command_reply_becomes_an_ephemeral_and_response_url_works(env: Any) -> None:
    driver, slack, app, _ = env
    app.answers["command"] = lambda _: (200, "text/plain; charset=utf-8", b"Unknown group")
    driver.command("bob", "/access", "nope")
    app.answers["command"] = json_answer({"response_type": "in_channel", "text": "REQ-7 filed"})
    driver.command("bob", "/it", "laptop broke", channel="#general")
    assert [e.text for e in driver.ephemerals("bob")] == ["Unknown group"]
    assert slack.latest("#general").text == "REQ-7 filed"
    app.answers["command"] = json_answer({"blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}]})
    with pytest.raises(SlackProtocolError):
        driver.command("bob", "/access")
    requests.post(app.last("command")["response_url"], json={"text": "later"}, timeout=5)
    assert driver.ephemerals("bob")[-1].text == "later"


def test_command_in_a_dm(env: Any) -> None:
    driver, slack, app, _ = env
    driver.command("carol", "/engops", "help", channel=slack.dm_channel("carol").id)
    assert app.last("command")["channel_name"] == "directmessage"


# --- clicking ------------------------------------------------------------------------------------------------
def test_click_sends_block_actions_for_the_labelled_button(env: Any) -> None:
    driver, slack, app, client = env
    mona = slack.user("mona").id
    posted = client.chat_postMessage(channel=mona, text="REQ-1 needs you", blocks=card("REQ-1"))
    driver.click("mona", "Deny")
    sent = app.last("block_actions")
    action = sent["actions"][0]
    assert action["action_id"] == "deny" and action["value"] == "REQ-1" and action["type"] == "button"
    assert action["text"]["text"] == "Deny" and action["block_id"] == posted["message"]["blocks"][1]["block_id"]
    assert sent["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": posted["channel"],
        "is_ephemeral": False,
    }
    assert sent["message"]["ts"] == posted["ts"] and sent["channel"]["id"] == posted["channel"]
    assert sent["user"]["id"] == mona and sent["trigger_id"]
    requests.post(sent["response_url"], json={"replace_original": True, "text": "Denied by @mona"}, timeout=5)
    assert slack.message(posted["channel"], posted["ts"]).text == "Denied by @mona"


def test_click_finds_the_newest_card_and_refuses_missing_or_ambiguous_buttons(env: Any) -> None:
    driver, slack, app, client = env
    client.chat_postMessage(channel="#general", text="REQ-1", blocks=card("REQ-1"))
    client.chat_postMessage(channel="#general", text="REQ-2", blocks=card("REQ-2"))
    client.chat_postMessage(channel="#general", text="just text")
    driver.click("erin", "Approve", channel="#general")
    assert app.last("block_actions")["actions"][0]["value"] == "REQ-2"
    with pytest.raises(SlackDriverError, match="not found"):
        driver.click("erin", "Escalate", channel="#general")
    home = {"type": "home", "blocks": card("REQ-1") + card("REQ-2")}
    client.views_publish(user_id=slack.user("erin").id, view=home)
    with pytest.raises(SlackDriverError, match="ambiguous"):
        driver.click("erin", "Approve", home=True)
    driver.click("erin", "Approve", home=True, value="REQ-1")
    sent = app.last("block_actions")
    assert sent["container"]["type"] == "view" and sent["view"]["type"] == "home"
    assert sent["actions"][0]["value"] == "REQ-1" and "response_url" not in sent and "message" not in sent


def test_click_in_modal_on_ephemeral_and_overflow(env: Any) -> None:
    driver, slack, app, client = env
    with_menu = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "REQ-3"},
            "accessory": {
                "type": "overflow",
                "action_id": "more",
                "options": [{"text": {"type": "plain_text", "text": "Revoke now"}, "value": "revoke:REQ-3"}],
            },
        }
    ]
    client.chat_postEphemeral(channel="#general", user=slack.user("dave").id, text="x", blocks=with_menu)
    driver.click("dave", "Revoke now", ephemeral=True)
    sent = app.last("block_actions")
    assert sent["container"]["is_ephemeral"] is True and "message" not in sent
    assert sent["actions"][0]["selected_option"]["value"] == "revoke:REQ-3"
    modal = {**FORM, "blocks": [*FORM["blocks"], {"type": "actions", "elements": [button("Add", "add", "1")]}]}
    view_id = open_form(slack, client, "dave", modal)
    driver.click("dave", "Add", view=True)
    sent = app.last("block_actions")
    assert sent["container"] == {"type": "view", "view_id": view_id}
    assert sent["view"]["state"]["values"]["kind"]["kind"]["selected_option"]["value"] == "4"


# --- modals ------------------------------------------------------------------------------------------------------
def test_submit_view_shapes_state_values_per_element_type(env: Any) -> None:
    driver, slack, app, client = env
    app.answers["block_suggestion"] = json_answer(GROUP_OPTIONS)
    view_id = open_form(slack, client)
    response = driver.submit_view(
        "alice",
        {
            "Okta group": "aws-sandbox-admins",
            "why": "on call this week",
            "Urgency": "High",
            "On behalf of": "bob",
            "tags": ["Low", "2"],
        },
    )
    assert response.status == 200
    suggestion = app.last("block_suggestion")
    assert suggestion["action_id"] == "group" and suggestion["value"] == "aws-sandbox-admins"
    sent = app.last("view_submission")
    values = sent["view"]["state"]["values"]
    assert values["group"]["group"] == {"type": "external_select", "selected_option": GROUP_OPTIONS["options"][0]}
    assert values["why"]["why"] == {"type": "plain_text_input", "value": "on call this week"}
    assert values["urgency"]["urgency"]["selected_option"]["value"] == "2"
    assert values["who"]["who"] == {"type": "users_select", "selected_user": slack.user("bob").id}
    assert values["until"]["until"] == {"type": "datepicker", "selected_date": "2030-01-31"}
    assert [o["value"] for o in values["tags"]["tags"]["selected_options"]] == ["4", "2"]
    assert values["kind"]["kind"]["type"] == "radio_buttons"
    assert sent["view"]["id"] == view_id and sent["view"]["callback_id"] == "access_request"
    assert slack.current_view("alice") is None  # a plain ack closes the modal


def test_submit_view_applies_errors_then_update(env: Any) -> None:
    driver, slack, app, client = env
    app.answers["block_suggestion"] = json_answer(GROUP_OPTIONS)
    open_form(slack, client)
    app.answers["view_submission"] = json_answer({"response_action": "errors", "errors": {"why": "Say why"}})
    driver.submit_view("alice", {"Okta group": "zoom-users", "Justification": "x", "Urgency": "4"})
    assert driver.current_view("alice").errors == {"why": "Say why"}
    done = {"type": "modal", "title": {"type": "plain_text", "text": "Sent"}, "blocks": card("REQ-9")[:1]}
    app.answers["view_submission"] = json_answer({"response_action": "update", "view": done})
    driver.submit_view("alice", {"Justification": "because"})
    assert app.last("view_submission")["view"]["state"]["values"]["group"]["group"]["selected_option"]["value"] == (
        "zoom-users"
    )  # earlier input is kept between submissions
    assert driver.current_view("alice").blocks[0]["text"]["text"].startswith("*REQ-9*")
    app.answers["view_submission"] = json_answer({"response_action": "errors", "errors": {"nope": "x"}})
    with pytest.raises(SlackProtocolError):
        driver.submit_view("alice")


def test_the_client_refuses_what_slack_would_not_send(env: Any) -> None:
    driver, slack, app, client = env
    app.answers["block_suggestion"] = json_answer(GROUP_OPTIONS)
    open_form(slack, client)
    with pytest.raises(SlackDriverError, match="required field 'Justification'"):
        driver.submit_view("alice", {"Okta group": "zoom-users", "Urgency": "Low"})
    with pytest.raises(SlackDriverError, match="longer than 50"):
        driver.submit_view("alice", {"Justification": "x" * 51})
    with pytest.raises(SlackDriverError, match="no option"):
        driver.submit_view("alice", {"Urgency": "Critical"})
    with pytest.raises(SlackDriverError, match="offers"):
        driver.submit_view("alice", {"Okta group": "netsuite-finance"})
    with pytest.raises(SlackDriverError, match="no input"):
        driver.submit_view("alice", {"Colour": "red"})
    assert not any(r.kind == "view_submission" for r in app.received)
    with pytest.raises(SlackDriverError, match="no modal open"):
        driver.submit_view("bob", {})


def test_suggest_checks_min_length_and_the_options_answer(env: Any) -> None:
    driver, slack, app, client = env
    open_form(slack, client)
    with pytest.raises(SlackDriverError, match="2 characters"):
        driver.suggest("alice", "group", "a")
    app.answers["block_suggestion"] = json_answer(
        {"option_groups": [{"label": {"type": "plain_text", "text": "AWS"}, "options": GROUP_OPTIONS["options"]}]}
    )
    assert [o["value"] for o in driver.suggest("alice", "group", "aw")] == ["aws-sandbox-admins", "zoom-users"]
    app.answers["block_suggestion"] = json_answer(
        {"options": [{"text": {"type": "mrkdwn", "text": "*x*"}, "value": "x"}]}
    )
    with pytest.raises(SlackProtocolError):
        driver.suggest("alice", "group", "aw")
    app.answers["block_suggestion"] = json_answer(
        {"options": [{"text": {"type": "plain_text", "text": "x" * 76}, "value": "x"}]}
    )
    with pytest.raises(SlackProtocolError):
        driver.suggest("alice", "group", "aw")


def test_select_records_input_and_dispatches_where_slack_does(env: Any) -> None:
    driver, slack, app, client = env
    view_id = open_form(slack, client)
    assert driver.select("alice", "Urgency", "High", view=True) is None  # input block without dispatch_action
    assert slack.view(view_id).state_values()["urgency"]["urgency"]["selected_option"]["value"] == "2"
    picker = [{"type": "actions", "elements": [{"type": "users_select", "action_id": "assignee"}]}]
    client.chat_postMessage(channel="#it-engops", text="pick", blocks=picker)
    driver.select("erin", "assignee", "frank@example.com", channel="#it-engops")
    action = app.last("block_actions")["actions"][0]
    assert action["type"] == "users_select" and action["selected_user"] == slack.user("frank").id


def test_close_view_notifies_only_when_asked(env: Any) -> None:
    driver, slack, app, client = env
    open_form(slack, client)
    driver.close_view("alice")
    closed = app.last("view_closed")
    assert closed["view"]["callback_id"] == "access_request" and closed["is_cleared"] is False
    assert slack.current_view("alice") is None
    open_form(slack, client, view={**FORM, "notify_on_close": False})
    assert driver.close_view("alice") is None


# --- shortcuts and events -------------------------------------------------------------------------------------------
def test_message_and_global_shortcuts(env: Any) -> None:
    driver, slack, app, _ = env
    said = slack.post_as_user("carol", "#general", "VPN is down again")
    driver.message_shortcut("hank", "escalate_to_engops", said.ts, "#general")
    sent = app.last("message_action")
    assert sent["message"]["text"] == "VPN is down again" and sent["message"]["user"] == slack.user("carol").id
    assert sent["message_ts"] == said.ts and sent["channel"]["name"] == "general" and sent["response_url"]
    driver.global_shortcut("hank", "new_it_request")
    assert app.last("shortcut")["callback_id"] == "new_it_request"


def test_open_home_event_and_its_redelivery(env: Any) -> None:
    driver, slack, app, client = env
    first = driver.open_home("alice")
    event = app.last("event")
    assert event["type"] == "event_callback" and event["event"]["type"] == "app_home_opened"
    assert event["event"]["user"] == slack.user("alice").id and event["event"]["channel"].startswith("D")
    assert "view" not in event["event"] and first.event_id == event["event_id"]
    again = driver.redeliver(first, retry_num=1)
    assert app.received[-1].headers["X-Slack-Retry-Num"] == "1"
    assert app.last("event")["event_id"] == first.event_id == again.event_id
    client.views_publish(user_id=slack.user("alice").id, view={"type": "home", "blocks": card("REQ-1")})
    driver.open_home("alice", retry_num=2)
    assert app.last("event")["event"]["view"]["type"] == "home"
    assert app.received[-1].headers["X-Slack-Retry-Num"] == "2"
    assert app.last("event")["event_id"] != first.event_id


def test_payloads_have_the_recorded_shapes(env: Any) -> None:
    driver, slack, app, client = env
    app.answers["block_suggestion"] = json_answer(GROUP_OPTIONS)
    mona = slack.user("mona").id
    client.chat_postMessage(channel=mona, text="REQ-1", blocks=card("REQ-1"))
    driver.click("mona", "Approve")
    client.views_publish(user_id=mona, view={"type": "home", "blocks": card("REQ-2")})
    driver.click("mona", "Deny", home=True)
    open_form(slack, client, "mona")
    driver.submit_view("mona", {"Okta group": "zoom-users", "Justification": "x", "Urgency": "4"})
    said = slack.post_as_user("carol", "#general", "help")
    driver.message_shortcut("mona", "escalate_to_engops", said.ts, "#general")
    driver.global_shortcut("mona", "new_it_request")
    open_form(slack, client, "mona")
    driver.close_view("mona")
    driver.open_home("mona")
    built = {
        "block_actions.json": next(r.data for r in app.received if r.kind == "block_actions"),
        "block_actions_view.json": app.last("block_actions"),
        "view_submission.json": app.last("view_submission"),
        "block_suggestion.json": app.last("block_suggestion"),
        "message_action.json": app.last("message_action"),
        "shortcut.json": app.last("shortcut"),
        "view_closed.json": app.last("view_closed"),
        "app_home_opened.json": app.last("event"),
    }
    nested = ("user", "team", "container", "channel", "view", "event", "authorizations")
    for name, payload in built.items():
        recorded = json.loads((PAYLOADS / name).read_text())
        recorded.pop("_comment")
        assert set(payload) == set(recorded), name
        for key in nested:
            if isinstance(recorded.get(key), dict):
                assert set(payload[key]) == set(recorded[key]), f"{name}: {key}"
        if "actions" in recorded:
            assert set(payload["actions"][0]) == set(recorded["actions"][0]), name
        if "message" in recorded:
            assert set(payload["message"]) <= set(recorded["message"]) | {"edited", "thread_ts"}, name
    assert set(built["app_home_opened.json"]["event"]["view"]) == set(
        json.loads((PAYLOADS / "app_home_opened.json").read_text())["event"]["view"]
    )


# --- reading ---------------------------------------------------------------------------------------------------------
def test_reading_helpers(env: Any) -> None:
    driver, slack, _, client = env
    alice = slack.user("alice").id
    client.chat_postMessage(channel=alice, text="plain note")
    client.chat_postMessage(channel=alice, text="fallback", blocks=card("REQ-4"))
    text = driver.dm_text("alice")
    assert "plain note" in text and "*REQ-4* alice asks for aws-sandbox-admins" in text
    assert "[Approve] [Deny]" in text and "fallback" not in text
    latest = driver.latest("alice")
    assert latest is not None and driver.labels(latest) == ["Approve", "Deny"]
    client.chat_postMessage(channel="#bt-integrations", text="sync failed")
    assert driver.latest("#bt-integrations").text == "sync failed"
    assert driver.latest("#general") is None
    with pytest.raises(SlackDriverError):
        driver.click("nobody@example.com", "Approve")
