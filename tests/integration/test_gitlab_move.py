"""The GitLab stand-in's "Move issue" (`POST /projects/:id/issues/:issue_iid/move`), as GitLab does it: the new issue
opened in the target project, the old one closed with `moved_to_id`, their webhooks, and MoveService's refusals."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from engops.sandbox.base import RunningServer
from engops.sandbox.directory import demo_directory
from engops.sandbox.gitlab import DEFAULT_TOKEN, GitLabStandIn
from engops.sandbox.gitlab.model import GUEST
from tests.support.gitlab import ACCESS, INFRA

AUTH = {"PRIVATE-TOKEN": DEFAULT_TOKEN}


def url_id(path: str) -> str:
    return path.replace("/", "%2F")


class HookReceiver:
    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
        with self._lock:
            self.received.append((environ.get("HTTP_X_GITLAB_EVENT", ""), body))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]


@pytest.fixture
def gitlab() -> GitLabStandIn:
    stand_in = GitLabStandIn.from_directory(demo_directory())
    stand_in.add_labels(ACCESS, "team::access-management", "bug")
    return stand_in


@pytest.fixture
def api(gitlab: GitLabStandIn) -> Iterator[str]:
    with RunningServer(gitlab) as server:
        yield f"{server.url}/api/v4"


@pytest.fixture
def receiver(gitlab: GitLabStandIn) -> Iterator[HookReceiver]:
    hooks = HookReceiver()
    with RunningServer(hooks) as server:
        gitlab.add_webhook(f"{server.url}/gitlab/webhook", "hook-secret")
        yield hooks


def create(api: str, project: str = INFRA, **fields: Any) -> dict[str, Any]:
    resp = requests.post(f"{api}/projects/{url_id(project)}/issues", json=fields, headers=AUTH, timeout=5)
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def move(api: str, iid: int, body: dict[str, Any], project: str = INFRA, token: str = DEFAULT_TOKEN) -> Any:
    return requests.post(
        f"{api}/projects/{url_id(project)}/issues/{iid}/move",
        json=body,
        headers={"PRIVATE-TOKEN": token},
        timeout=5,
    )


def test_a_move_opens_the_issue_in_the_target_and_closes_the_old_one_with_moved_to_id(
    api: str, gitlab: GitLabStandIn
) -> None:
    old = create(
        api, title="Bucket please (REQ-7)", description="Details", labels="team::infrastructure,bug", assignee_ids=[2]
    )
    gitlab.comment(INFRA, old["iid"], "looking", by="erin")
    target = gitlab.project(ACCESS)
    resp = move(api, old["iid"], {"to_project_id": target.id})
    assert resp.status_code == 201, resp.text
    new = resp.json()
    assert new["project_id"] == target.id and new["iid"] == 1 and new["id"] != old["id"]
    assert new["references"]["full"] == f"{ACCESS}#1" and new["web_url"].endswith(f"/{ACCESS}/-/issues/1")
    assert (new["title"], new["description"], new["state"]) == ("Bucket please (REQ-7)", "Details", "opened")
    assert new["author"]["username"] == "engops-bot" and new["created_at"] == old["created_at"]
    assert new["labels"] == ["bug"]  # the labels the target project has, by title
    assert new["moved_to_id"] is None and [a["id"] for a in new["assignees"]] == [2]
    after = requests.get(f"{api}/projects/{url_id(INFRA)}/issues/{old['iid']}", headers=AUTH, timeout=5).json()
    assert after["state"] == "closed" and after["moved_to_id"] == new["id"]
    moved_view = gitlab.issue(ACCESS, 1)
    assert [n["body"] for n in moved_view["notes"]] == ["looking", f"moved from {INFRA}#{old['iid']}"]
    assert f"moved to {ACCESS}#1" in [n["body"] for n in gitlab.issue(INFRA, old["iid"])["notes"] if n["system"]]


def test_move_refusals_are_gitlabs(api: str, gitlab: GitLabStandIn) -> None:
    iid = create(api, title="Stay here")["iid"]
    target = gitlab.project(ACCESS)
    same = move(api, iid, {"to_project_id": gitlab.project(INFRA).id})
    assert (same.status_code, same.json()) == (400, {"message": "Cannot move issue to project it originates from!"})
    assert move(api, iid, {}).json() == {"error": "to_project_id is missing"}
    assert move(api, iid, {"to_project_id": "elsewhere"}).json() == {"error": "to_project_id is invalid"}
    assert move(api, iid, {"to_project_id": 99999}).status_code == 404
    assert move(api, 404, {"to_project_id": target.id}).status_code == 404
    gitlab.set_project_access(ACCESS, writable=False)  # the bot is no more than a Guest there
    refused = move(api, iid, {"to_project_id": target.id})
    assert (refused.status_code, refused.json()) == (
        400,
        {"message": "Cannot move issue due to insufficient permissions!"},
    )
    gitlab.set_project_access(ACCESS, writable=True)
    gitlab.set_member(ACCESS, "engops-bot", GUEST)
    assert move(api, iid, {"to_project_id": target.id}).status_code == 400
    gitlab.set_member(ACCESS, "engops-bot", 20)  # Reporter may move
    assert move(api, iid, {"to_project_id": target.id}).status_code == 201
    again = move(api, iid, {"to_project_id": gitlab.project("bt-engineering/operations/issue-tracker").id})
    assert (again.status_code, again.json()["message"]) == (400, "Cannot move issue due to insufficient permissions!")
    assert [i["state"] for i in gitlab.issues(INFRA)] == ["closed"] and len(gitlab.issues(ACCESS)) == 1
    read_only = requests.post(  # a read_api token writes nothing
        f"{api}/projects/{url_id(ACCESS)}/issues/1/move",
        json={"to_project_id": 1},
        headers=_read_only(gitlab),
        timeout=5,
    )
    assert read_only.status_code == 403


def _read_only(gitlab: GitLabStandIn) -> dict[str, str]:
    gitlab.add_token("glpat-read-only", "engops-bot", scopes=("read_api",))
    return {"PRIVATE-TOKEN": "glpat-read-only"}


def test_a_move_sends_the_new_issues_open_then_the_old_ones_close(
    api: str, gitlab: GitLabStandIn, receiver: HookReceiver
) -> None:
    old = create(api, title="Moving (REQ-3)", labels="bug", confidential=False)
    new_iid = gitlab.move_issue(INFRA, old["iid"], ACCESS, by="erin")  # as a person, in GitLab's UI
    assert gitlab.wait_for_webhooks()
    events = [
        (event, b["project"]["path_with_namespace"], b["object_attributes"]["action"]) for event, b in receiver.received
    ]
    assert events == [("Issue Hook", INFRA, "open"), ("Issue Hook", ACCESS, "open"), ("Issue Hook", INFRA, "close")]
    opened, closed = receiver.received[1][1], receiver.received[2][1]
    assert opened["object_attributes"]["iid"] == new_iid and opened["user"]["username"] == "erin"
    assert opened["object_attributes"]["author_id"] == gitlab.bot.id  # the moved issue keeps its author
    assert opened["object_attributes"]["moved_to_id"] is None
    assert closed["user"]["username"] == "erin" and closed["object_attributes"]["state"] == "closed"
    assert closed["object_attributes"]["moved_to_id"] == opened["object_attributes"]["id"]
    assert closed["changes"]["state_id"] == {"previous": 1, "current": 2}
    assert [label["title"] for label in opened["labels"]] == ["bug"]


def test_a_confidential_issue_moves_with_the_confidential_hooks(
    api: str, gitlab: GitLabStandIn, receiver: HookReceiver
) -> None:
    old = create(api, title="Leaked key", confidential=True)
    gitlab.move_issue(INFRA, old["iid"], ACCESS, by="erin")
    assert gitlab.wait_for_webhooks()
    assert [event for event, _ in receiver.received] == ["Confidential Issue Hook"] * 3
    assert gitlab.issue(ACCESS, 1)["confidential"]
