"""The Slack stand-in answers slack_sdk's WebClient as Slack does, including its errors and limits."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from engops.sandbox.base import Fault, RunningServer
from engops.sandbox.directory import demo_directory
from engops.sandbox.slack import SlackProtocolError, SlackStandIn

SECTION: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": "*REQ-1* needs you"}}
BUTTONS: dict[str, Any] = {
    "type": "actions",
    "block_id": "req-1",
    "elements": [
        {"type": "button", "action_id": "approve", "text": {"type": "plain_text", "text": "Approve"}, "value": "1"},
        {"type": "button", "action_id": "deny", "text": {"type": "plain_text", "text": "Deny"}, "value": "1"},
    ],
}
MODAL: dict[str, Any] = {
    "type": "modal",
    "callback_id": "access_request",
    "title": {"type": "plain_text", "text": "Request access"},
    "submit": {"type": "plain_text", "text": "Submit"},
    "blocks": [
        {
            "type": "input",
            "block_id": "why",
            "label": {"type": "plain_text", "text": "Justification"},
            "element": {"type": "plain_text_input", "action_id": "why"},
        }
    ],
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def slack(clock: FakeClock) -> Iterator[SlackStandIn]:
    stand_in = SlackStandIn.from_directory(demo_directory(), clock=clock)
    with RunningServer(stand_in) as server:
        stand_in.base_url = server.url
        yield stand_in


@pytest.fixture
def client(slack: SlackStandIn) -> WebClient:
    return WebClient(token=slack.bot_token, base_url=f"{slack.base_url}/api/")


def post(url: str, **kwargs: Any) -> requests.Response:
    return requests.post(url, timeout=10, **kwargs)


def get(url: str, **kwargs: Any) -> requests.Response:
    return requests.get(url, timeout=10, **kwargs)


def api_error(call: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as caught:
        call()
    assert caught.value.response.status_code == 200
    data = caught.value.response.data
    assert isinstance(data, dict)
    assert data["ok"] is False
    return data


# --- auth ---------------------------------------------------------------------------------------
def test_auth_test_identifies_the_bot(client: WebClient, slack: SlackStandIn) -> None:
    data = client.auth_test()
    assert data["user_id"] == slack.bot_user_id and data["team_id"] == slack.team_id and data["bot_id"]


def test_wrong_token_is_invalid_auth_and_missing_token_is_not_authed(slack: SlackStandIn) -> None:
    wrong = WebClient(token="xoxb-not-the-token", base_url=f"{slack.base_url}/api/")
    assert api_error(lambda: wrong.chat_postMessage(channel="#general", text="x"))["error"] == "invalid_auth"
    anonymous = WebClient(base_url=f"{slack.base_url}/api/")
    assert api_error(anonymous.auth_test)["error"] == "not_authed"
    basic = post(f"{slack.base_url}/api/auth.test", headers={"Authorization": f"Basic {slack.bot_token}"})
    assert basic.status_code == 200 and basic.json()["error"] == "invalid_auth"
    assert slack.messages("#general") == []


def test_token_in_a_form_body_is_accepted_as_slack_does(slack: SlackStandIn) -> None:
    resp = post(f"{slack.base_url}/api/auth.test", data={"token": slack.bot_token})
    assert resp.json()["ok"] is True


# --- posting -----------------------------------------------------------------------------------------
def test_post_by_channel_name_and_to_a_user_id_lands_in_their_dm(client: WebClient, slack: SlackStandIn) -> None:
    general = slack.channel("#general")
    posted = client.chat_postMessage(channel="#general", text="hello", blocks=[SECTION, BUTTONS])
    assert posted["channel"] == general.id
    assert slack.latest("#general") is not None and slack.latest("#general").ts == posted["ts"]  # type: ignore[union-attr]

    alice = slack.user("alice")
    opened = client.conversations_open(users=alice.id)["channel"]["id"]
    assert opened.startswith("D") and client.conversations_open(users=alice.id)["channel"]["id"] == opened
    dm = client.chat_postMessage(channel=alice.id, text="your request REQ-1 was submitted")
    assert dm["channel"] == opened
    assert [m.text for m in slack.dm("alice")] == ["your request REQ-1 was submitted"]
    assert slack.dm("bob") == []


def test_timestamps_are_unique_increasing_slack_strings(client: WebClient) -> None:
    stamps = [client.chat_postMessage(channel="#general", text=str(i))["ts"] for i in range(5)]
    assert all(len(ts.split(".")[1]) == 6 for ts in stamps)
    assert [float(ts) for ts in stamps] == sorted({float(ts) for ts in stamps})


def test_unknown_channel_and_channel_without_the_bot(client: WebClient, slack: SlackStandIn) -> None:
    assert api_error(lambda: client.chat_postMessage(channel="#nope", text="x"))["error"] == "channel_not_found"
    slack.add_channel("private-stuff", bot_member=False)
    assert api_error(lambda: client.chat_postMessage(channel="#private-stuff", text="x"))["error"] == "not_in_channel"


def test_invalid_blocks_are_rejected_with_slack_style_messages(client: WebClient, slack: SlackStandIn) -> None:
    bad_cases = [
        [{"type": "header", "text": {"type": "mrkdwn", "text": "headers are plain_text only"}}],
        [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}, "colour": "red"}],
        [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}],
        [SECTION] * 51,
        [{"type": "no_such_block"}],
        [{"type": "actions", "elements": []}],
        [{**SECTION, "block_id": "same"}, {**SECTION, "block_id": "same"}],
        [{"type": "actions", "elements": [{**BUTTONS["elements"][0], "text": {"type": "mrkdwn", "text": "*A*"}}]}],
    ]
    for blocks in bad_cases:
        data = api_error(lambda b=blocks: client.chat_postMessage(channel="#general", text="x", blocks=b))
        assert data["error"] == "invalid_blocks", blocks
        assert data["response_metadata"]["messages"][0].startswith("[ERROR]")
    assert slack.messages("#general") == []
    client.chat_postMessage(channel="#general", text="ok", blocks=[SECTION] * 50)


def test_blocks_as_a_form_field_must_be_json(slack: SlackStandIn) -> None:
    headers = {"Authorization": f"Bearer {slack.bot_token}"}
    url = f"{slack.base_url}/api/chat.postMessage"
    ok = post(url, headers=headers, data={"channel": "#general", "blocks": json.dumps([SECTION])})
    assert ok.json()["ok"] is True
    bad = post(url, headers=headers, data={"channel": "#general", "blocks": "[{not json"})
    assert bad.json()["error"] == "invalid_blocks_format"


def test_message_without_content_and_too_long_text(client: WebClient) -> None:
    assert api_error(lambda: client.chat_postMessage(channel="#general", text=""))["error"] == "no_text"
    too_long = "x" * 40_001
    assert api_error(lambda: client.chat_postMessage(channel="#general", text=too_long))["error"] == "msg_too_long"


def test_arguments_slack_does_not_document_are_refused(client: WebClient) -> None:
    data = api_error(
        lambda: client.chat_postMessage(channel="#general", text="x", metadata={"event_type": "a", "event_payload": {}})
    )
    assert data["error"] == "invalid_arguments" and "metadata" in data["response_metadata"]["messages"][0]


def test_team_id_as_bolts_per_request_client_sends_it(slack: SlackStandIn) -> None:
    ours = WebClient(token=slack.bot_token, base_url=f"{slack.base_url}/api/", team_id=slack.team_id)
    ours.chat_postMessage(channel="#general", text="from a Bolt listener")
    ours.users_info(user=slack.user("alice").id)
    other = WebClient(token=slack.bot_token, base_url=f"{slack.base_url}/api/", team_id="T0OTHER")
    assert api_error(lambda: other.chat_postMessage(channel="#general", text="x"))["error"] == "team_access_not_granted"
    assert [m.text for m in slack.messages("#general")] == ["from a Bolt listener"]


def test_threads_history_and_replies(client: WebClient, slack: SlackStandIn) -> None:
    parent = client.chat_postMessage(channel="#it-engops", text="escalated")
    for i in range(3):
        client.chat_postMessage(channel="#it-engops", text=f"note {i}", thread_ts=parent["ts"])
    later = client.chat_postMessage(channel="#it-engops", text="later")
    history = client.conversations_history(channel=parent["channel"], limit=1)
    assert [m["ts"] for m in history["messages"]] == [later["ts"]] and history["has_more"] is True
    rest = client.conversations_history(channel=parent["channel"], cursor=history["response_metadata"]["next_cursor"])
    assert [m["ts"] for m in rest["messages"]] == [parent["ts"]] and rest["messages"][0]["reply_count"] == 3
    replies = client.conversations_replies(channel=parent["channel"], ts=parent["ts"])["messages"]
    assert [m["text"] for m in replies] == ["escalated", "note 0", "note 1", "note 2"]
    assert [m.text for m in slack.thread("#it-engops", parent["ts"])][1:] == ["note 0", "note 1", "note 2"]
    missing = api_error(lambda: client.conversations_replies(channel=parent["channel"], ts="1.000001"))
    assert missing["error"] == "thread_not_found"


def test_read_methods_accept_get_with_query_and_refuse_json_bodies(slack: SlackStandIn) -> None:
    headers = {"Authorization": f"Bearer {slack.bot_token}"}
    alice = slack.user("alice")
    got = get(f"{slack.base_url}/api/users.info", params={"user": alice.id}, headers=headers).json()
    assert got["user"]["profile"]["email"] == "alice@example.com"
    # users.info takes form arguments only: a JSON body's arguments are not read.
    as_json = post(f"{slack.base_url}/api/users.info", json={"user": alice.id}, headers=headers).json()
    assert as_json["ok"] is False
    write_via_get = get(
        f"{slack.base_url}/api/chat.postMessage", params={"channel": "#general", "text": "x"}, headers=headers
    ).json()
    assert write_via_get["error"] == "invalid_arguments"
    unknown = post(f"{slack.base_url}/api/chat.nope", headers=headers)
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_method"


# --- updating -----------------------------------------------------------------------------------------
def test_update_replaces_in_place_and_keeps_history(client: WebClient, slack: SlackStandIn) -> None:
    posted = client.chat_postMessage(channel="#general", text="pending", blocks=[SECTION, BUTTONS])
    updated = client.chat_update(channel=posted["channel"], ts=posted["ts"], text="approved by @mona")
    assert updated["ts"] == posted["ts"]
    message = slack.message("#general", posted["ts"])
    assert message.text == "approved by @mona"
    assert message.blocks and message.blocks[1]["block_id"] == "req-1"  # omitted blocks are kept
    client.chat_update(channel=posted["channel"], ts=posted["ts"], text="done", blocks=[])
    assert slack.message("#general", posted["ts"]).blocks == []
    assert [e["text"] for e in message.edits] == ["pending", "approved by @mona"]
    assert len(slack.messages("#general")) == 1


def test_update_errors(client: WebClient, slack: SlackStandIn) -> None:
    human = slack.post_as_user("alice", "#general", "my own message")
    channel_id = slack.channel("#general").id
    data = api_error(lambda: client.chat_update(channel=channel_id, ts=human.ts, text="hijack"))
    assert data["error"] == "cant_update_message"
    assert api_error(lambda: client.chat_update(channel=channel_id, ts="1.000001", text="x"))["error"] == (
        "message_not_found"
    )
    posted = client.chat_postMessage(channel="#general", text="x")
    # chat.update needs the channel id, not its name
    assert api_error(lambda: client.chat_update(channel="#general", ts=posted["ts"], text="y"))["error"] == (
        "channel_not_found"
    )
    assert slack.message("#general", human.ts).text == "my own message"


def test_ephemeral_only_to_members(client: WebClient, slack: SlackStandIn) -> None:
    alice, bob = slack.user("alice"), slack.user("bob")
    client.chat_postEphemeral(channel="#general", user=alice.id, text="only you can see this")
    assert [e.text for e in slack.ephemerals("alice")] == ["only you can see this"]
    alice_dm = slack.dm_channel("alice").id
    data = api_error(lambda: client.chat_postEphemeral(channel=alice_dm, user=bob.id, text="x"))
    assert data["error"] == "user_not_in_channel"
    assert slack.ephemerals("bob") == [] and slack.messages("#general") == []


def test_permalink(client: WebClient, slack: SlackStandIn) -> None:
    posted = client.chat_postMessage(channel="#general", text="x")
    reply = client.chat_postMessage(channel="#general", text="y", thread_ts=posted["ts"])
    link = client.chat_getPermalink(channel=posted["channel"], message_ts=posted["ts"])["permalink"]
    assert link.endswith(f"/archives/{posted['channel']}/p{posted['ts'].replace('.', '')}")
    reply_link = client.chat_getPermalink(channel=posted["channel"], message_ts=reply["ts"])["permalink"]
    assert f"thread_ts={posted['ts']}" in reply_link
    missing = api_error(lambda: client.chat_getPermalink(channel=posted["channel"], message_ts="1.000001"))
    assert missing["error"] == "message_not_found"


# --- users --------------------------------------------------------------------------------------------------
def test_users_info_and_lookup_by_email(client: WebClient, slack: SlackStandIn) -> None:
    user = client.users_info(user=slack.user("erin").id)["user"]
    assert user["profile"]["email"] == "erin@example.com" and user["real_name"] == "Erin Evans" and user["tz"]
    assert client.users_lookupByEmail(email="Frank@Example.com")["user"]["name"] == "frank"
    assert api_error(lambda: client.users_info(user="U99999999"))["error"] == "user_not_found"
    assert api_error(lambda: client.users_lookupByEmail(email="nobody@example.com"))["error"] == "users_not_found"


# --- views -----------------------------------------------------------------------------------------------------
def test_trigger_ids_are_single_use(client: WebClient, slack: SlackStandIn) -> None:
    trigger = slack.issue_trigger("alice")
    view = client.views_open(trigger_id=trigger, view=MODAL)["view"]
    assert view["id"].startswith("V") and view["callback_id"] == "access_request" and view["hash"]
    assert api_error(lambda: client.views_open(trigger_id=trigger, view=MODAL))["error"] == "exchanged_trigger_id"
    assert api_error(lambda: client.views_open(trigger_id="1.2.3", view=MODAL))["error"] == "invalid_trigger_id"
    assert [v.id for v in slack.views("alice")] == [view["id"]]


def test_trigger_ids_expire_after_three_seconds(client: WebClient, slack: SlackStandIn, clock: FakeClock) -> None:
    trigger = slack.issue_trigger("alice")
    clock.now += 3.5
    assert api_error(lambda: client.views_open(trigger_id=trigger, view=MODAL))["error"] == "expired_trigger_id"
    assert slack.current_view("alice") is None
    fresh = slack.issue_trigger("alice")
    clock.now += 2.9
    client.views_open(trigger_id=fresh, view=MODAL)
    assert slack.current_view("alice") is not None


def test_invalid_views_are_rejected(client: WebClient, slack: SlackStandIn) -> None:
    no_submit = {k: v for k, v in MODAL.items() if k != "submit"}
    long_title = {**MODAL, "title": {"type": "plain_text", "text": "x" * 25}}
    bad_block = {**MODAL, "blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}]}
    too_many = {**MODAL, "blocks": [SECTION] * 101}
    home_as_modal = {**MODAL, "type": "home"}
    for view in (no_submit, long_title, bad_block, too_many, home_as_modal):
        data = api_error(lambda v=view: client.views_open(trigger_id=slack.issue_trigger("alice"), view=v))
        assert data["error"] == "invalid_arguments", view
        assert data["response_metadata"]["messages"]
    assert slack.current_view("alice") is None


def test_views_update_checks_id_and_hash_and_keeps_entered_input(client: WebClient, slack: SlackStandIn) -> None:
    opened = client.views_open(trigger_id=slack.issue_trigger("alice"), view=MODAL)["view"]
    slack.set_view_value(opened["id"], "why", "why", {"type": "plain_text_input", "value": "on call"})
    extended = {**MODAL, "blocks": [*MODAL["blocks"], SECTION]}
    updated = client.views_update(view_id=opened["id"], hash=opened["hash"], view=extended)["view"]
    assert updated["id"] == opened["id"] and updated["hash"] != opened["hash"]
    assert updated["state"]["values"]["why"]["why"]["value"] == "on call"
    stale = api_error(lambda: client.views_update(view_id=opened["id"], hash=opened["hash"], view=MODAL))
    assert stale["error"] == "hash_conflict"
    assert api_error(lambda: client.views_update(view_id="V404", view=MODAL))["error"] == "not_found"
    assert len(slack.current_view("alice").blocks) == 2  # type: ignore[union-attr]


def test_views_update_by_external_id_and_push_limit(client: WebClient, slack: SlackStandIn) -> None:
    client.views_open(trigger_id=slack.issue_trigger("bob"), view={**MODAL, "external_id": "req-9"})
    client.views_update(external_id="req-9", view={**MODAL, "external_id": "req-9", "callback_id": "resolved"})
    assert slack.current_view("bob").callback_id == "resolved"  # type: ignore[union-attr]
    for _ in range(2):
        client.views_push(trigger_id=slack.issue_trigger("bob"), view=MODAL)
    assert len(slack.views("bob")) == 3
    data = api_error(lambda: client.views_push(trigger_id=slack.issue_trigger("bob"), view=MODAL))
    assert data["error"] == "push_limit_reached"


def test_publish_home(client: WebClient, slack: SlackStandIn) -> None:
    home_view = {"type": "home", "blocks": [SECTION, BUTTONS]}
    alice = slack.user("alice").id
    first = client.views_publish(user_id=alice, view=home_view)["view"]
    second = client.views_publish(user_id=alice, view=home_view, hash=first["hash"])["view"]
    assert second["id"] == first["id"]
    stale = api_error(lambda: client.views_publish(user_id=alice, view=home_view, hash=first["hash"]))
    assert stale["error"] == "hash_conflict"
    assert api_error(lambda: client.views_publish(user_id=alice, view=MODAL))["error"] == "invalid_arguments"
    assert slack.home("alice") is not None and slack.home("bob") is None


def test_view_submission_answers_are_applied_as_slack_does(client: WebClient, slack: SlackStandIn) -> None:
    root = client.views_open(trigger_id=slack.issue_trigger("alice"), view=MODAL)["view"]["id"]
    slack.apply_view_submission(root, {"response_action": "errors", "errors": {"why": "Say why"}})
    assert slack.view(root).errors == {"why": "Say why"}
    with pytest.raises(SlackProtocolError):
        slack.apply_view_submission(root, {"response_action": "errors", "errors": {"not-an-input": "x"}})
    slack.apply_view_submission(root, {"response_action": "push", "view": {**MODAL, "callback_id": "step2"}})
    assert [v.callback_id for v in slack.views("alice")] == ["access_request", "step2"]
    slack.apply_view_submission(slack.views("alice")[1].id, None)  # plain ack closes only that view
    assert [v.id for v in slack.views("alice")] == [root]
    with pytest.raises(SlackProtocolError):
        slack.apply_view_submission(root, {"response_action": "update", "view": {"type": "modal", "blocks": []}})
    slack.apply_view_submission(root, {"response_action": "clear"})
    assert slack.views("alice") == []


# --- response_url -----------------------------------------------------------------------------------------------
def test_response_url_ephemeral_in_channel_replace_and_delete(client: WebClient, slack: SlackStandIn) -> None:
    channel = slack.channel("#general").id
    card = client.chat_postMessage(channel=channel, text="card", blocks=[SECTION, BUTTONS])
    url = slack.issue_response_url("alice", channel, message_ts=card["ts"])
    assert post(url, json={"text": "just for you"}).text == "ok"
    assert [e.text for e in slack.ephemerals("alice")] == ["just for you"]
    post(url, json={"text": "for everyone", "response_type": "in_channel"})
    assert slack.latest("#general").text == "for everyone"  # type: ignore[union-attr]
    post(url, json={"text": "approved", "replace_original": True})
    assert slack.message("#general", card["ts"]).text == "approved"
    bad = post(url, json={"blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}]})
    assert bad.status_code == 400 and bad.text == "invalid_blocks"
    post(url, json={"delete_original": True})
    with pytest.raises(KeyError):
        slack.message("#general", card["ts"])
    assert post(url, json={"text": "sixth use"}).text == "used_url"
    assert post(f"{slack.base_url}/response/nope", json={"text": "x"}).status_code == 404


def test_response_url_expires_after_30_minutes(slack: SlackStandIn, clock: FakeClock) -> None:
    url = slack.issue_response_url("alice", slack.channel("#general").id)
    clock.now += 31 * 60
    resp = post(url, json={"text": "late"})
    assert resp.status_code == 404 and resp.text == "expired_url"
    assert slack.ephemerals("alice") == []


# --- rate limits and faults ----------------------------------------------------------------------------------------
def test_rate_limit_is_a_429_with_retry_after(slack: SlackStandIn) -> None:
    slack.set_method_limit("chat.postMessage", 1, 1.0, per_channel=True)
    headers = {"Authorization": f"Bearer {slack.bot_token}"}
    url = f"{slack.base_url}/api/chat.postMessage"
    assert post(url, headers=headers, json={"channel": "#general", "text": "1"}).json()["ok"] is True
    other_channel = post(url, headers=headers, json={"channel": "#it-engops", "text": "1"})
    assert other_channel.json()["ok"] is True
    limited = post(url, headers=headers, json={"channel": "#general", "text": "2"})
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json() == {"ok": False, "error": "ratelimited"}
    assert [m.text for m in slack.messages("#general")] == ["1"]


def test_slack_sdk_retry_handler_succeeds_after_a_429(slack: SlackStandIn) -> None:
    slack.set_method_limit("chat.postMessage", 1, 1.0, per_channel=True)
    client = WebClient(
        token=slack.bot_token,
        base_url=f"{slack.base_url}/api/",
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)],
    )
    client.chat_postMessage(channel="#general", text="first")
    client.chat_postMessage(channel="#general", text="second")  # waits out Retry-After, then succeeds
    assert [m.text for m in slack.messages("#general")] == ["first", "second"]
    assert slack.seen_rate_limited >= 1


def test_slack_tiers_and_injected_faults(client: WebClient, slack: SlackStandIn) -> None:
    slack.use_slack_rate_limits()
    assert slack._method_limits["chat.postMessage"].per_channel  # 1/s per channel
    assert slack._method_limits["chat.update"].limit == 50  # Tier 3
    slack.inject(Fault(status=500, path_prefix="/api/chat.postMessage"))
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="#general", text="x")
    assert caught.value.response.status_code == 500 and caught.value.response["error"] == "internal_error"
    client.chat_postMessage(channel="#general", text="x")


def test_state_is_json(client: WebClient, slack: SlackStandIn) -> None:
    client.chat_postMessage(channel=slack.user("alice").id, text="hi")
    client.views_publish(user_id=slack.user("alice").id, view={"type": "home", "blocks": [SECTION]})
    state = json.loads(json.dumps(slack.state()))
    assert any(u["profile"]["email"] == "alice@example.com" for u in state["users"])
    dm = next(c for c in state["channels"] if c["is_im"])
    assert dm["messages"][0]["text"] == "hi"
    assert slack.user("alice").id in state["homes"]
    served = get(f"{slack.base_url}/_state").json()
    assert {c["name"] for c in served["channels"] if not c["is_im"]} >= {"general", "bt-integrations", "it-engops"}


def test_empty_stand_in_has_only_the_bot() -> None:
    empty = SlackStandIn(clock=time.time)
    assert list(empty.users) == [empty.bot_user_id] and empty.channels == {}
    empty.add_user("U1", "zed", "Zed Z", "zed@example.com")
    assert empty.user("zed@example.com").id == "U1"


# --- end to end with slack_bolt: the driver's payloads and the stand-in as a real Bolt app sees them ------------
def test_a_bolt_app_works_against_the_driver_and_the_stand_in(slack: SlackStandIn) -> None:
    from slack_bolt import Ack, App, Respond
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    from engops.sandbox.slack_driver import SlackDriver

    secret = "bolt-test-signing-secret"
    client = WebClient(token=slack.bot_token, base_url=f"{slack.base_url}/api/")
    app = App(client=client, signing_secret=secret, process_before_response=True)
    group = {"type": "external_select", "action_id": "group", "min_query_length": 1}
    why = {"type": "plain_text_input", "action_id": "why"}
    modal = {
        **MODAL,
        "blocks": [
            {"type": "input", "block_id": "group", "label": {"type": "plain_text", "text": "Group"}, "element": group},
            {**MODAL["blocks"][0], "element": why},
        ],
    }
    approve = {**BUTTONS, "elements": BUTTONS["elements"][:1]}

    @app.command("/access")
    def access(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        client.views_open(trigger_id=body["trigger_id"], view=modal)
        respond("Fill in the form")

    @app.options("group")
    def groups(ack: Ack) -> None:
        ack(options=[{"text": {"type": "plain_text", "text": "zoom-users"}, "value": "zoom-users"}])

    @app.view("access_request")
    def submitted(ack: Ack, view: dict[str, Any], body: dict[str, Any], client: WebClient) -> None:
        values = view["state"]["values"]
        if values["why"]["why"]["value"] == "because":
            ack(response_action="errors", errors={"why": "Say more"})
            return
        ack()
        group = values["group"]["group"]["selected_option"]["value"]
        client.chat_postMessage(channel=body["user"]["id"], text=f"REQ-1 {group}", blocks=[SECTION, approve])

    @app.action("approve")
    def approved(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        respond(replace_original=True, text=f"approved by <@{body['user']['id']}>")

    with RunningServer(SlackRequestHandler(app)) as served:
        driver = SlackDriver(served.url, secret, slack)
        assert driver.command("alice", "/access").status == 200
        assert [e.text for e in driver.ephemerals("alice")] == ["Fill in the form"]
        driver.submit_view("alice", {"Group": "zoom-users", "Justification": "because"})
        assert driver.current_view("alice").errors == {"why": "Say more"}  # type: ignore[union-attr]
        driver.submit_view("alice", {"Justification": "on call this week"})
        assert driver.current_view("alice") is None
        driver.click("alice", "Approve")
        assert driver.dm_text("alice") == f"approved by <@{slack.user('alice').id}>"
        assert driver.raw(b"{}", {"Content-Type": "application/json"}).status == 401
