"""A durable step that runs again (after a crash, or a retry) does not post its Slack messages twice:
`Messenger.post` with a `PostLedger`, against the Slack stand-in and a real database. The step context
is stood in for by a fixed key (the crash test covers real steps in killed workers)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.db.engine import Database
from bot.db.migrate import upgrade
from bot.slack.messenger import Messenger, make_client
from bot.slack.post_ledger import PostLedger
from engops.sandbox.base import RunningServer
from engops.sandbox.directory import demo_directory
from engops.sandbox.slack import SlackStandIn


@pytest.fixture
def world(database_url: str) -> Iterator[tuple[SlackStandIn, Messenger, PostLedger]]:
    upgrade(database_url)
    slack = SlackStandIn.from_directory(demo_directory())
    db = Database(database_url)
    with RunningServer(slack) as server:
        slack.base_url = server.url
        ledger = PostLedger(db)
        yield slack, Messenger(make_client(slack.bot_token, f"{server.url}/api/"), ledger), ledger
    db.dispose()


def in_step(monkeypatch: pytest.MonkeyPatch, ledger: PostLedger, run: str = "wf-1/3") -> None:
    """As if the posts came from step 3 of workflow wf-1 (the same key in every run of that step)."""
    monkeypatch.setattr(ledger, "key_for", lambda channel, thread_ts: f"{run}/{channel}/{thread_ts or '-'}/0")


def posts(slack: SlackStandIn) -> int:
    return sum(1 for c in slack.calls if c.path == "/api/chat.postMessage")


def test_a_post_slack_took_before_the_step_died_is_not_posted_again(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    slack, messenger, ledger = world
    in_step(monkeypatch, ledger)
    channel = slack.channel("#general").id
    # the first run wrote its intent, Slack took the post, the process died before the answer was recorded
    assert ledger.claim(f"wf-1/3/{channel}/-/0", channel, None, "REQ-7 is done") is None
    first = messenger.client.chat_postMessage(channel=channel, text="REQ-7 is done")
    # the step runs again (it may render the message differently by now): the first message is found
    again = messenger.post(channel, "REQ-7 is done (rendered again)")
    assert (again.channel, again.ts) == (channel, first["ts"])
    assert [m.text for m in slack.messages("#general")] == ["REQ-7 is done"]
    # and a third run does not even look: the entry is complete now
    before = len(slack.calls)
    assert messenger.post(channel, "REQ-7 is done").ts == first["ts"]
    assert len(slack.calls) == before


def test_a_post_that_never_reached_slack_is_posted_once(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    slack, messenger, ledger = world
    in_step(monkeypatch, ledger)
    dm = messenger.dm_channel(slack.user("alice").id)
    assert ledger.claim(f"wf-1/3/{dm}/-/0", dm, None, "Your request REQ-8 was approved") is None  # died here
    messenger.dm(slack.user("alice").id, "Your request REQ-8 was approved")
    messenger.dm(slack.user("alice").id, "Your request REQ-8 was approved")
    assert [m.text for m in slack.dm("alice")] == ["Your request REQ-8 was approved"]


def test_thread_replies_and_channel_names(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    slack, messenger, ledger = world
    root = messenger.post("#it-engops", "REQ-9 escalation")  # outside a step: straight through
    monkeypatch.setattr(ledger, "key_for", lambda channel, thread_ts: f"wf-2/1/{channel}/{thread_ts}/0")
    messenger.post("#it-engops", "first card")  # completes an entry for the name (its id is known from now on)
    # a reply Slack took without the answer being recorded is found in its thread
    assert ledger.claim(f"wf-2/1/#it-engops/{root.ts}/0", "#it-engops", root.ts, "filed: REQ-9") is None
    slack.post_as_user("frank", "#it-engops", "filed: REQ-9 (a person said it too)", thread_ts=root.ts)
    reply = messenger.client.chat_postMessage(channel=root.channel, text="filed: REQ-9", thread_ts=root.ts)
    assert messenger.post("#it-engops", "filed: REQ-9", thread_ts=root.ts).ts == reply["ts"]
    assert [m.text for m in slack.thread("#it-engops", root.ts)][1:] == [
        "filed: REQ-9 (a person said it too)",
        "filed: REQ-9",
    ]
    assert posts(slack) == 3  # root, first card, the reply: nothing posted again
