"""Edited GitLab comments update the Slack message that relayed them (issue #15, defect 5).

GitLab sends a Note Hook when a comment is created and again, `object_attributes.action: "update"`, each time its
text is edited; nothing when it is deleted. The stand-in's webhooks are pointed at the app's `POST /gitlab/webhook`
and the comments are edited through GitLab's API (`PUT /projects/:id/issues/:iid/notes/:note_id`), as a person
editing in GitLab would; the thread and the requester's DM are read back from the Slack stand-in."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from engops.sandbox.base import RunningServer
from engops.sandbox.directory import demo_directory
from engops.sandbox.gitlab import GitLabStandIn
from engops.sandbox.slack import Message
from engops.sandbox.stack import WEBHOOK_SECRET, Stack
from tests.support.gitlab import INFRA, post_webhook
from tests.support.slack_actions import file_request

INFRA_URL_ID = "bt-engineering%2Finfrastructure%2Fissue-tracker"


def connect_webhook(stack: Stack, url: str | None = None) -> None:
    stack.gitlab.add_webhook(url or f"{stack.url}/gitlab/webhook", WEBHOOK_SECRET)


def settle(stack: Stack) -> None:
    assert stack.gitlab.wait_for_webhooks()
    stack.wait_idle()


def replies(stack: Stack, channel: str = "#general") -> list[Message]:
    root = stack.slack.messages(channel)[0]
    return stack.slack.thread(channel, root.ts)[1:]


def edit_via_api(stack: Stack, iid: int, note_id: int, body: str, token: str) -> requests.Response:
    url = f"{stack.env['GITLAB_URL']}/api/v4/projects/{INFRA_URL_ID}/issues/{iid}/notes/{note_id}"
    return requests.put(url, json={"body": body}, headers={"PRIVATE-TOKEN": token}, timeout=5)


def test_an_edited_comment_updates_its_message_instead_of_posting_another(stack: Stack) -> None:
    connect_webhook(stack)
    stack.gitlab.add_token("glpat-erin", "erin")
    file_request(stack, "alice", {"Summary": "Need an S3 bucket for marketing assets"})  # infra #1
    note_id = stack.gitlab.comment(INFRA, 1, "Created it: s3://marketing-asets", by="erin")
    assert note_id is not None
    settle(stack)
    [link, comment] = replies(stack)
    assert "Erin Evans* commented" in comment.text and "marketing-asets" in comment.text
    assert edit_via_api(stack, 1, note_id, "Created it: s3://marketing-assets", "glpat-erin").status_code == 200
    settle(stack)
    [edit_delivery] = [
        d for d in stack.gitlab.webhook_deliveries if d.payload["object_attributes"].get("action") == "update"
    ]
    assert edit_delivery.status == 200 and edit_delivery.payload["user"]["username"] == "erin"
    assert [m.ts for m in replies(stack)] == [link.ts, comment.ts]  # nothing new in the thread
    edited = replies(stack)[1]
    assert "s3://marketing-assets" in edited.text and "marketing-asets" not in edited.text
    assert "commented on" in edited.text and "(edited)" in edited.text and edited.edited_ts is not None
    stack.gitlab.edit_comment(INFRA, 1, note_id, "Created it: s3://marketing-assets (versioned)", by="erin")
    settle(stack)
    assert [m.ts for m in replies(stack)] == [link.ts, comment.ts]
    assert "(versioned)" in replies(stack)[1].text


def test_an_edit_delivered_before_its_comment_leaves_one_message_with_the_edited_text(stack: Stack) -> None:
    """GitLab fires hooks from background jobs, so the edit's may arrive first; the bot runs them side by side."""
    connect_webhook(stack, "http://127.0.0.1:9/unreachable")  # record what GitLab sends; deliver it below
    file_request(stack, "alice", {"Summary": "Need an S3 bucket for marketing assets"})
    note_id = stack.gitlab.comment(INFRA, 1, "first words", by="erin")
    assert note_id is not None
    stack.gitlab.edit_comment(INFRA, 1, note_id, "second thoughts", by="erin")
    settle(stack)
    notes = [d for d in stack.gitlab.webhook_deliveries if d.event == "Note Hook"]
    assert [d.payload["object_attributes"]["action"] for d in notes] == ["create", "update"]
    for delivery in reversed(notes):
        assert post_webhook(stack, json.dumps(delivery.payload).encode(), WEBHOOK_SECRET, "Note Hook") == 200
        stack.wait_idle()
    [_link, comment] = replies(stack)
    assert "second thoughts" in comment.text and "first words" not in comment.text


def test_a_confidential_issues_edited_comment_updates_the_requesters_dm_only(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    connect_webhook(stack)
    file_request(stack, "alice", {"Summary": "My password expired and my account is locked", "Team": "Infrastructure"})
    assert stack.gitlab.issues(INFRA)[0]["confidential"]
    note_id = stack.gitlab.comment(INFRA, 1, "Unlocked; the temporary password is in your inbox", by="erin")
    assert note_id is not None
    settle(stack)
    dms_before = [m.ts for m in stack.slack.dm("alice")]
    [_link, stub] = replies(stack)
    stack.gitlab.edit_comment(INFRA, 1, note_id, "Unlocked; the temporary password is in your work inbox", by="erin")
    settle(stack)
    assert [m.ts for m in stack.slack.dm("alice")] == dms_before
    assert "your work inbox" in driver.dm_text("alice") and "(edited)" in driver.dm_text("alice")
    [_link, stub_after] = replies(stack)
    assert (stub_after.ts, stub_after.text) == (stub.ts, stub.text) and "password" not in stub_after.text


def test_an_issue_made_confidential_takes_the_edited_comment_out_of_the_channel(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    connect_webhook(stack)
    file_request(stack, "alice", {"Summary": "Need an S3 bucket for marketing assets"})
    note_id = stack.gitlab.comment(INFRA, 1, "Created it", by="erin")
    assert note_id is not None
    settle(stack)
    assert stack.gitlab.comment(INFRA, 1, "/confidential", by="erin") is None  # only a quick action
    stack.gitlab.edit_comment(INFRA, 1, note_id, "Created it; the access key is in 1Password", by="erin")
    settle(stack)
    [_link, comment] = replies(stack)
    assert "confidential issue" in comment.text and "1Password" not in comment.text
    assert "the access key is in 1Password" in driver.dm_text("alice")
    dms = len(stack.slack.dm("alice"))
    stack.gitlab.edit_comment(INFRA, 1, note_id, "Created it; the access key is in the vault", by="erin")
    settle(stack)
    assert len(stack.slack.dm("alice")) == dms and "in the vault" in driver.dm_text("alice")


def test_edits_slack_must_not_show_and_deletions(stack: Stack) -> None:
    """A Maintainer who is no DRI may edit a DRI's comment in GitLab; that edit does not reach Slack. A comment
    that was never relayed stays unrelayed when edited. A deleted comment sends no hook: its message stays."""
    driver = stack.driver
    assert driver is not None
    connect_webhook(stack)
    stack.gitlab.add_user("mallory", "Mallory Outsider", "mallory@evil.example")
    stack.gitlab.set_member(INFRA, "grace", 40)  # an it-admin, Maintainer of the tracker, not its DRI
    file_request(stack, "alice", {"Summary": "Need an S3 bucket for marketing assets"})
    erins = stack.gitlab.comment(INFRA, 1, "Created it", by="erin")
    mallorys = stack.gitlab.comment(INFRA, 1, "Reset your password at https://evil.example/login", by="mallory")
    assert erins is not None and mallorys is not None
    settle(stack)
    before = [(m.ts, m.text) for m in replies(stack)]
    assert len(before) == 2 and "Created it" in before[1][1]
    stack.gitlab.edit_comment(INFRA, 1, erins, "Created it; log in at https://evil.example/login", by="grace")
    stack.gitlab.edit_comment(INFRA, 1, mallorys, "Erin says: reset at https://evil.example/login", by="mallory")
    settle(stack)
    edits = [d for d in stack.gitlab.webhook_deliveries if d.payload["object_attributes"].get("action") == "update"]
    assert len(edits) == 2 and {d.status for d in edits} == {200}
    assert edits[0].payload["user"]["username"] == "erin"  # the author, as GitLab sends it; grace edited it
    assert edits[0].payload["object_attributes"]["updated_by_id"] == stack.gitlab.user_by_username("grace").id
    assert [(m.ts, m.text) for m in replies(stack)] == before
    sent = len(stack.gitlab.webhook_deliveries)
    stack.gitlab.delete_comment(INFRA, 1, erins, by="erin")
    settle(stack)
    assert len(stack.gitlab.webhook_deliveries) == sent and [(m.ts, m.text) for m in replies(stack)] == before
    assert "evil.example" not in " ".join([*(m.text for m in replies(stack)), driver.dm_text("alice")])


# --- the stand-in's note-edit API, as GitLab answers ----------------------------------------------------


@pytest.fixture
def gitlab() -> GitLabStandIn:
    return GitLabStandIn.from_directory(demo_directory())


@pytest.fixture
def api(gitlab: GitLabStandIn) -> Iterator[str]:
    with RunningServer(gitlab) as server:
        yield f"{server.url}/api/v4"


def test_the_note_edit_api(api: str, gitlab: GitLabStandIn) -> None:
    gitlab.add_token("glpat-erin", "erin")
    gitlab.add_token("glpat-frank", "fwheeler")
    gitlab.add_webhook("http://127.0.0.1:9/unreachable")  # what GitLab sends is recorded
    iid = gitlab.open_issue(INFRA, "Printer on fire", by="erin")
    note_id = gitlab.comment(INFRA, iid, "it is smoking", by="erin")
    gitlab.close_issue(INFRA, iid, by="erin")  # a system note
    system_id = gitlab.issue_obj(INFRA, iid).notes[-1].id
    url = f"{api}/projects/{INFRA_URL_ID}/issues/{iid}/notes"

    def put(note: int, body: str, by: str = "erin") -> requests.Response:
        auth = {"PRIVATE-TOKEN": f"glpat-{by}"}
        return requests.put(f"{url}/{note}", json={"body": body}, headers=auth, timeout=5)

    edited = put(note_id or 0, "it is on fire")
    assert edited.status_code == 200 and edited.json()["body"] == "it is on fire"
    assert put(note_id or 0, "not mine to change", by="frank").status_code == 403  # a Developer, not the author
    assert put(system_id, "rewritten history").status_code == 403
    assert put(999_999, "no such note").json() == {"message": "404 Not found"}
    assert put(note_id or 0, "  ").json() == {"error": "body is empty"}
    assert put(note_id or 0, "it is on fire").status_code == 200  # the same text again: no hook
    assert put(note_id or 0, "/reopen").status_code == 200  # only a quick action: it runs, the note goes
    issue = gitlab.issue(INFRA, iid)
    assert issue["state"] == "opened" and "it is on fire" not in [n["body"] for n in issue["notes"]]
    gone = requests.get(f"{url}/{note_id}", headers={"PRIVATE-TOKEN": "glpat-erin"}, timeout=5)
    assert gone.status_code == 404
    assert gitlab.wait_for_webhooks()
    notes = [d.payload for d in gitlab.webhook_deliveries if d.event == "Note Hook"]
    assert [(n["object_attributes"]["action"], n["object_attributes"]["note"]) for n in notes] == [
        ("create", "it is smoking"),
        ("update", "it is on fire"),
    ]
    update = notes[1]["object_attributes"]
    assert update["id"] == note_id and update["updated_by_id"] == gitlab.user_by_username("erin").id
