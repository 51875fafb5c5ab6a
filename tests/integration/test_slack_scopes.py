"""The Slack stand-in asks for the OAuth scopes Slack asks for: a token without the scope a method needs is
answered `missing_scope` (with `needed` and `provided`), every answer tells the token's scopes in
`x-oauth-scopes`, and users.info shows an email only to a token with users:read.email. Its own bot token
holds exactly the manifest's scopes, so a scope missing from the manifest fails the tests that need it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.manifest import BOT_SCOPES, build_manifest
from engops.sandbox.base import RunningServer
from engops.sandbox.directory import demo_directory
from engops.sandbox.slack import METHODS, SlackStandIn
from engops.sandbox.slack.scopes import HISTORY_SCOPES, METHOD_SCOPES, OPEN_SCOPES
from tests.support.shared import shared_dir

SPEC_PATH = shared_dir() / "specs" / "slack" / "slack_web_openapi_v2.noexamples.json"
# Granular bot scopes that replaced the spec's (2020) workspace-app ones.
RENAMED_SINCE_THE_SPEC = {"chat:write": {"chat:write:bot", "chat:write:user"}}


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    stand_in = SlackStandIn.from_directory(demo_directory())
    with RunningServer(stand_in) as server:
        stand_in.base_url = server.url
        yield stand_in


def client_for(slack: SlackStandIn, token: str) -> WebClient:
    return WebClient(token=token, base_url=f"{slack.base_url}/api/")


def refusal(call: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as caught:
        call()
    assert caught.value.response.status_code == 200
    data = caught.value.response.data
    assert isinstance(data, dict)
    return data


def header(response: Any, name: str) -> str:
    return next(str(v) for k, v in response.headers.items() if k.lower() == name)


def test_the_bot_token_holds_the_manifests_scopes_and_every_answer_says_so(slack: SlackStandIn) -> None:
    client = client_for(slack, slack.bot_token)
    answer = client.auth_test()
    assert set(header(answer, "x-oauth-scopes").split(",")) == set(BOT_SCOPES)
    assert set(build_manifest()["oauth_config"]["scopes"]["bot"]) == set(BOT_SCOPES)
    posted = client.chat_postMessage(channel="#general", text="hello")
    assert header(posted, "x-accepted-oauth-scopes") == "chat:write"
    assert set(header(posted, "x-oauth-scopes").split(",")) == set(BOT_SCOPES)


def test_a_method_without_its_scope_is_missing_scope_as_slack_answers(slack: SlackStandIn) -> None:
    token = slack.issue_bot_token(without={"chat:write"})
    client = client_for(slack, token)
    data = refusal(lambda: client.chat_postMessage(channel="#general", text="hello"))
    provided = ",".join(sorted(set(BOT_SCOPES) - {"chat:write"}))
    assert data == {"ok": False, "error": "missing_scope", "needed": "chat:write", "provided": provided}
    assert slack.messages("#general") == []
    assert client.auth_test()["ok"] is True  # auth.test needs no scope


def test_history_needs_the_scope_of_the_conversations_type(slack: SlackStandIn) -> None:
    group_dm = slack.add_group_dm("carol", "dave", "hank")
    private = slack.add_channel("payroll-ops", private=True)
    for conversation in (group_dm.id, private.id, "#general"):
        slack.post_as_user("carol", conversation, "Payroll sync failed")
    without_mpim = client_for(slack, slack.issue_bot_token(without={"mpim:history"}))
    data = refusal(lambda: without_mpim.conversations_history(channel=group_dm.id))
    assert (data["error"], data["needed"]) == ("missing_scope", "mpim:history")
    message = slack.messages(group_dm.id)[0]
    data = refusal(lambda: without_mpim.conversations_replies(channel=group_dm.id, ts=message.ts))
    assert data["needed"] == "mpim:history"
    assert without_mpim.conversations_history(channel=private.id)["messages"]  # groups:history is still held
    without_groups = client_for(slack, slack.issue_bot_token(without={"groups:history"}))
    assert refusal(lambda: without_groups.conversations_history(channel=private.id))["needed"] == "groups:history"
    assert without_groups.conversations_history(channel=slack.channel("#general").id)["messages"]
    full = client_for(slack, slack.bot_token)
    assert [m["text"] for m in full.conversations_replies(channel=group_dm.id, ts=message.ts)["messages"]] == [
        "Payroll sync failed"
    ]


def test_users_info_shows_the_email_only_with_users_read_email(slack: SlackStandIn) -> None:
    carol = slack.user("carol")
    with_email = client_for(slack, slack.bot_token).users_info(user=carol.id)["user"]["profile"]
    assert with_email["email"] == carol.email
    reader = client_for(slack, slack.issue_bot_token(without={"users:read.email"}))
    profile = reader.users_info(user=carol.id)["user"]["profile"]
    assert "email" not in profile and profile["real_name"] == carol.real_name
    assert refusal(lambda: reader.users_lookupByEmail(email=carol.email))["needed"] == "users:read.email"
    no_users = client_for(slack, slack.issue_bot_token(without={"users:read"}))
    assert refusal(lambda: no_users.users_info(user=carol.id))["needed"] == "users:read"


def test_opening_a_dm_needs_im_write(slack: SlackStandIn) -> None:
    client = client_for(slack, slack.issue_bot_token(without={"im:write"}))
    data = refusal(lambda: client.conversations_open(users=slack.user("carol").id))
    assert data["error"] == "missing_scope" and "im:write" in data["needed"].split(",")


def test_a_missing_scope_answer_is_json_with_the_scope_headers(slack: SlackStandIn) -> None:
    import requests

    token = slack.issue_bot_token(scopes=["commands"])
    resp = requests.post(
        f"{slack.base_url}/api/users.info",
        data={"user": slack.user("carol").id},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert resp.json() == {"ok": False, "error": "missing_scope", "needed": "users:read", "provided": "commands"}
    assert resp.headers["x-oauth-scopes"] == "commands"
    assert resp.headers["x-accepted-oauth-scopes"] == "users:read"


def test_the_scope_table_agrees_with_slacks_spec() -> None:
    """Every method the stand-in serves has a scope rule, and each scope it asks for is one the spec lists
    for the method (or its granular successor); methods the spec says need none need none here."""
    if not SPEC_PATH.exists():
        pytest.skip(f"Slack spec not found at {SPEC_PATH}")
    spec = json.loads(SPEC_PATH.read_text())
    assert set(METHOD_SCOPES) == set(METHODS)
    for method, accepted in METHOD_SCOPES.items():
        [operation] = spec["paths"][f"/{method}"].values()
        listed = set(operation["security"][0]["slackAuth"]) - {"none"}
        for scope in accepted:
            assert scope in listed or RENAMED_SINCE_THE_SPEC.get(scope, set()) & listed, (method, scope)
        assert bool(accepted) == bool(listed), method
    # the bot reads threads in every kind of conversation and opens 1:1 DMs
    assert set(HISTORY_SCOPES.values()) <= set(BOT_SCOPES) and OPEN_SCOPES["im"] in BOT_SCOPES
