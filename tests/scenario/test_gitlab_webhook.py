"""GitLab back-sync: the stand-in's webhooks are pointed at the app's `POST /gitlab/webhook`, so a close,
relabel or comment made in GitLab shows up in the request's Slack thread as it would in production."""

from __future__ import annotations

import json

from engops.sandbox.slack import message_as_text
from engops.sandbox.stack import WEBHOOK_SECRET, Stack
from tests.support.gitlab import INFRA, OPERATIONS, post_webhook
from tests.support.slack import reply_to
from tests.support.slack_actions import file_request


def connect_webhook(stack: Stack) -> None:
    stack.gitlab.add_webhook(f"{stack.url}/gitlab/webhook", WEBHOOK_SECRET)


def settle(stack: Stack) -> None:
    assert stack.gitlab.wait_for_webhooks()
    stack.wait_idle()


def thread_texts(stack: Stack, channel: str = "#general") -> list[str]:
    root = stack.slack.messages(channel)[0]
    return [m.text for m in stack.slack.thread(channel, root.ts)[1:]]


def test_close_relabel_reopen_and_comments_reach_the_thread_and_the_requester(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    connect_webhook(stack)
    file_request(stack, "alice", {"Summary": "Need an S3 bucket for marketing assets"})
    settle(stack)  # the issue's own "open" event: nothing to say
    assert len(thread_texts(stack)) == 1  # just the link
    stack.gitlab.relabel(INFRA, 1, add=["workflow::in-progress"], by="erin")
    settle(stack)
    stack.gitlab.comment(INFRA, 1, "Created it <!channel>, see s3://marketing-assets\n<@U00000009>", by="erin")
    settle(stack)
    stack.gitlab.comment(INFRA, 1, "noted by the bot itself", by="engops-bot")  # the bot's own note
    stack.gitlab.close_issue(INFRA, 1, by="erin")
    settle(stack)
    texts = thread_texts(stack)
    assert "Erin Evans* changed the labels" in texts[1] and "`workflow::in-progress`" in texts[1]
    assert "Erin Evans* commented" in texts[2] and "Created it &lt;!channel&gt;" in texts[2]
    assert "<@U00000009>" not in texts[2] and "&lt;@U00000009&gt;" in texts[2]
    assert "closed by *Erin Evans*" in texts[3] and len(texts) == 4  # no system notes, not the bot's note
    assert "Your request *REQ-1*" in driver.dm_text("alice") and "was closed by *Erin Evans*" in driver.dm_text("alice")
    assert "Closed in GitLab" in reply_to(stack, "alice", "/engops", "status REQ-1")
    stack.gitlab.reopen_issue(INFRA, 1, by="erin")
    settle(stack)
    assert "reopened by *Erin Evans*" in thread_texts(stack)[-1]
    assert "Filed in GitLab" in reply_to(stack, "alice", "/engops", "status REQ-1")
    assert {d.status for d in stack.gitlab.webhook_deliveries} == {200}


def test_other_issues_are_ignored_and_bad_deliveries_refused(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    connect_webhook(stack)
    file_request(stack, "alice", {"Summary": "Terraform plan fails"})  # infra #1, filed by the bot
    settle(stack)
    before = (thread_texts(stack), driver.dm_text("alice"))
    gitlab = stack.gitlab
    with gitlab.lock:  # infra #2, filed by a person in the same tracker
        gitlab.create_issue(gitlab.project(INFRA), gitlab.user_by_username("erin"), title="Filed by hand in GitLab")
    gitlab.comment(INFRA, 2, "a comment on an issue the bot did not file", by="erin")
    gitlab.close_issue(INFRA, 2, by="erin")
    settle(stack)
    assert {d.status for d in gitlab.webhook_deliveries} == {200}
    assert (thread_texts(stack), driver.dm_text("alice")) == before
    assert stack.slack.all_messages("#infra-access-requests") == [] and stack.slack.dm("erin") == []
    good = json.dumps({"object_kind": "issue"}).encode()
    assert post_webhook(stack, good, "wrong-secret") == 401
    assert post_webhook(stack, good, None) == 401
    assert post_webhook(stack, b"{not json", WEBHOOK_SECRET) == 400
    assert post_webhook(stack, good, WEBHOOK_SECRET) == 400  # an Issue Hook without its attributes
    assert post_webhook(stack, b"[1, 2]", WEBHOOK_SECRET) == 400
    assert post_webhook(stack, json.dumps({"object_kind": "push"}).encode(), WEBHOOK_SECRET, "Push Hook") == 200


def test_confidential_comments_go_to_the_requester_only_and_a_close_stops_paging(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    connect_webhook(stack)
    file_request(stack, "alice", {"Summary": "My password expired and my account is locked", "Team": "Infrastructure"})
    assert stack.gitlab.issues(INFRA)[0]["confidential"]
    stack.gitlab.comment(INFRA, 1, "Unlocked; the temporary password is in your inbox", by="erin")
    settle(stack)
    [link, comment] = thread_texts(stack)
    assert "confidential issue" in comment and "temporary password" not in comment
    assert "temporary password is in your inbox" in driver.dm_text("alice")
    # an escalation whose issue is closed before anyone acknowledged: the paging stops
    driver.command("hank", "/escalate", "Printer queue is stuck", channel="#it-engops")
    driver.submit_view("hank", {"Details": "Floor 3"})
    stack.wait_idle()
    stack.gitlab.close_issue(OPERATIONS, 1, by="peggy")
    settle(stack)
    card = [m for m in stack.slack.all_messages("#it-engops") if "Escalation for" in message_as_text(m.text, m.blocks)]
    assert len(card) == 1 and "I'm on it" not in driver.labels(card[0]) and "was closed" in str(card[0].blocks)
    stack.advance(hours=2)
    stack.run_sweep()
    stack.wait_idle()
    assert len([m for m in stack.slack.dm("peggy") if "Escalation for" in message_as_text(m.text, m.blocks)]) == 1


def test_only_comments_by_the_teams_dris_reach_slack(stack: Stack) -> None:
    """Issue #13: any GitLab user who could comment on a bot-filed issue posted into its Slack thread.
    The rule: a comment is relayed only when its author is a DRI of the issue's team (infrastructure: erin)."""
    driver = stack.driver
    assert driver is not None
    connect_webhook(stack)
    stack.gitlab.add_user("mallory", "Mallory Outsider", "mallory@evil.example")
    file_request(stack, "alice", {"Summary": "Need an S3 bucket for marketing assets"})  # infra #1
    file_request(stack, "bob", {"Summary": "My password expired and my account is locked", "Team": "Infrastructure"})
    assert [i["confidential"] for i in stack.gitlab.issues(INFRA)] == [False, True]
    settle(stack)
    before = (thread_texts(stack), driver.dm_text("alice"), driver.dm_text("bob"))
    for iid in (1, 2):
        stack.gitlab.comment(INFRA, iid, "Reset your password at https://evil.example/login", by="mallory")
        stack.gitlab.comment(INFRA, iid, "Looking at it from the admin side", by="grace")  # an it-admin, not a DRI
        stack.gitlab.comment(INFRA, iid, "a note the bot wrote", by="engops-bot")
    settle(stack)
    assert {d.status for d in stack.gitlab.webhook_deliveries} == {200}
    assert (thread_texts(stack), driver.dm_text("alice"), driver.dm_text("bob")) == before
    stack.gitlab.comment(INFRA, 1, "Created it", by="erin")
    stack.gitlab.comment(INFRA, 2, "Unlocked it", by="erin")
    settle(stack)
    [relayed] = [t for t in thread_texts(stack) if t not in before[0]]  # alice's thread
    assert "Erin Evans* commented" in relayed and "Created it" in relayed
    assert "Unlocked it" in driver.dm_text("bob")  # confidential: to the requester
    everything = " ".join([*thread_texts(stack), driver.dm_text("alice"), driver.dm_text("bob")])
    assert "evil.example" not in everything and "admin side" not in everything and "bot wrote" not in everything
