"""The GitLab stand-in over plain HTTP: quick actions, auth, errors, pagination, rate limits, webhooks."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from engops.sandbox.base import RunningServer
from engops.sandbox.directory import demo_directory
from engops.sandbox.gitlab import DEFAULT_TOKEN, GitLabStandIn, extract_quick_actions, mass_mention_lines
from tests.support.gitlab import INFRA

INFRA_URL_ID = "bt-engineering%2Finfrastructure%2Fissue-tracker"
AUTH = {"PRIVATE-TOKEN": DEFAULT_TOKEN}


@pytest.fixture
def gitlab() -> GitLabStandIn:
    stand_in = GitLabStandIn.from_directory(demo_directory())
    stand_in.add_labels(INFRA, "bug", "needs triage")
    return stand_in


@pytest.fixture
def api(gitlab: GitLabStandIn) -> Iterator[str]:
    with RunningServer(gitlab) as server:
        yield f"{server.url}/api/v4"


def create(api: str, **fields: Any) -> requests.Response:
    return requests.post(f"{api}/projects/{INFRA_URL_ID}/issues", json=fields, headers=AUTH, timeout=5)


# --- quick-action parsing ------------------------------------------------------------------------


def test_only_whole_lines_outside_code_and_quotes_are_quick_actions() -> None:
    text = "\n".join(
        [
            "Please look at this",
            "/close",
            '/LABEL ~bug ~"needs triage"',
            "run it like: /close",
            " /close",
            "/closed is not a command",
            "/unknowncommand stays",
            "```",
            "/close",
            "```",
            "~~~sh",
            "/assign @erin",
            "~~~",
            "> /close",
            ">>>",
            "/close",
            ">>>",
            "/shrug fine",
        ]
    )
    remaining, commands = extract_quick_actions(text)
    assert commands == [("close", ""), ("label", '~bug ~"needs triage"')]
    lines = remaining.split("\n")
    assert "/close" not in lines[:2] and lines[0] == "Please look at this"
    assert "run it like: /close" in lines and " /close" in lines and "/unknowncommand stays" in lines
    assert lines.count("/close") == 2  # the fenced one and the one inside >>> stay as text
    assert "/assign @erin" in lines and "> /close" in lines
    assert lines[-1] == "fine ¯\\＿(ツ)＿/¯"


def test_an_unclosed_fence_protects_everything_after_it() -> None:
    remaining, commands = extract_quick_actions("text\n```\n/close\n/label ~bug")
    assert commands == [] and remaining.endswith("/label ~bug")


def test_an_unclosed_gitlab_blockquote_is_plain_text() -> None:
    assert extract_quick_actions(">>>\n/close")[1] == [("close", "")]


def test_mass_mentions_outside_code_are_found() -> None:
    text = "hi @all\n`@all` in code\n```\n@here\n```\nmail me@all.example\n@allison is a person\ncc @here."
    assert mass_mention_lines(text) == ["hi @all", "cc @here."]


# --- quick actions over the API --------------------------------------------------------------------


def test_description_quick_actions_run_like_gitlab_on_create(api: str, gitlab: GitLabStandIn) -> None:
    body = (
        "Broken VPN\n/label ~bug\n/confidential\n/assign @erin\n/close\nmid-line /close stays\n```\n/unlabel ~bug\n```"
    )
    resp = create(api, title="VPN down", description=body)
    assert resp.status_code == 201
    issue = resp.json()
    assert issue["labels"] == ["bug"]
    assert issue["confidential"] is True
    assert [a["username"] for a in issue["assignees"]] == ["erin"]
    # GitLab drops state changes while creating: /close is removed from the text but the issue stays open.
    assert issue["state"] == "opened"
    assert issue["description"] == "Broken VPN\nmid-line /close stays\n```\n/unlabel ~bug\n```"
    ran = [(q.command, q.applied) for q in gitlab.quick_actions]
    assert ran == [("label", True), ("confidential", True), ("assign", True), ("close", False)]


def test_a_note_with_close_closes_the_issue(api: str, gitlab: GitLabStandIn) -> None:
    iid = create(api, title="Printer on fire").json()["iid"]
    notes = f"{api}/projects/{INFRA_URL_ID}/issues/{iid}/notes"

    only_commands = requests.post(notes, json={"body": "/close"}, headers=AUTH, timeout=5)
    assert only_commands.status_code == 202
    assert only_commands.json()["commands_changes"] == {"state_event": "close"}
    assert gitlab.issue(INFRA, iid)["state"] == "closed"

    mixed = requests.post(notes, json={"body": "reopening\n/reopen\n/label ~nope ~bug"}, headers=AUTH, timeout=5)
    assert mixed.status_code == 201 and mixed.json()["body"] == "reopening"
    issue = gitlab.issue(INFRA, iid)
    assert issue["state"] == "opened" and issue["labels"] == ["bug"]  # ~nope does not exist: not created
    user_notes = [n["body"] for n in issue["notes"] if not n["system"]]
    assert user_notes == ["reopening"]
    assert {"closed", "reopened"} <= {n["body"] for n in issue["notes"] if n["system"]}


def test_fenced_or_mid_line_quick_actions_do_not_run(api: str, gitlab: GitLabStandIn) -> None:
    iid = create(api, title="Safe", description="see `/close` and\n```\n/close\n```\nplease /close it").json()["iid"]
    requests.post(
        f"{api}/projects/{INFRA_URL_ID}/issues/{iid}/notes",
        json={"body": "```\n/label ~bug\n```\n> /close"},
        headers=AUTH,
        timeout=5,
    )
    assert gitlab.quick_actions == []
    assert gitlab.issue(INFRA, iid)["state"] == "opened" and gitlab.issue(INFRA, iid)["labels"] == []


def test_mass_mentions_are_recorded(api: str, gitlab: GitLabStandIn) -> None:
    create(api, title="Heads up", description="@all the VPN is down")
    assert [(m.iid, m.source, m.line) for m in gitlab.mass_mentions] == [(1, "description", "@all the VPN is down")]


def test_put_state_event_and_label_edits(api: str, gitlab: GitLabStandIn) -> None:
    iid = create(api, title="Relabel me", labels="a,b").json()["iid"]
    url = f"{api}/projects/{INFRA_URL_ID}/issues/{iid}"
    resp = requests.put(
        url, json={"add_labels": "c", "remove_labels": "a", "state_event": "close"}, headers=AUTH, timeout=5
    )
    assert resp.status_code == 200
    assert resp.json()["labels"] == ["b", "c"] and resp.json()["state"] == "closed"
    assert requests.put(url, json={"state_event": "shut"}, headers=AUTH, timeout=5).status_code == 400
    assert requests.put(url, json={}, headers=AUTH, timeout=5).status_code == 400


# --- auth, lookups and errors ------------------------------------------------------------------------


def test_auth_is_checked_on_every_call(api: str) -> None:
    assert requests.get(f"{api}/user", timeout=5).status_code == 401
    wrong = requests.get(f"{api}/user", headers={"PRIVATE-TOKEN": "glpat-wrong"}, timeout=5)
    assert wrong.status_code == 401 and wrong.json() == {"message": "401 Unauthorized"}
    malformed = requests.get(f"{api}/user", headers={"Authorization": f"Token {DEFAULT_TOKEN}"}, timeout=5)
    assert malformed.status_code == 401
    bearer = requests.get(f"{api}/user", headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}, timeout=5)
    assert bearer.status_code == 200 and bearer.json()["username"] == "engops-bot"


def test_projects_by_encoded_path_or_id_and_error_bodies(api: str, gitlab: GitLabStandIn) -> None:
    by_path = requests.get(f"{api}/projects/{INFRA_URL_ID}", headers=AUTH, timeout=5).json()
    assert by_path["path_with_namespace"] == INFRA
    by_id = requests.get(f"{api}/projects/{by_path['id']}", headers=AUTH, timeout=5).json()
    assert by_id["id"] == by_path["id"]

    missing = requests.get(f"{api}/projects/nope%2Fnothing", headers=AUTH, timeout=5)
    assert missing.status_code == 404 and missing.json() == {"message": "404 Project Not Found"}
    gitlab.set_project_access(INFRA, writable=False)
    forbidden = create(api, title="x")
    assert forbidden.status_code == 403 and forbidden.json() == {"message": "403 Forbidden"}
    gitlab.set_project_access(INFRA, writable=True, visible=False)
    assert requests.get(f"{api}/projects/{INFRA_URL_ID}", headers=AUTH, timeout=5).status_code == 404


def test_bad_issue_bodies_are_rejected(api: str) -> None:
    missing = create(api, description="no title")
    assert missing.status_code == 400 and missing.json() == {"error": "title is missing"}
    assert create(api, title="   ").status_code == 400
    assert create(api, title="x" * 256).status_code == 400
    assert create(api, title="ok", assignee_ids=["erin"]).status_code == 400
    assert create(api, title="ok", confidential="maybe").status_code == 400


def test_users_by_username_and_by_public_email_only(api: str) -> None:
    def users(**params: str) -> list[str]:
        return [u["username"] for u in requests.get(f"{api}/users", params=params, headers=AUTH, timeout=5).json()]

    assert users(username="fwheeler") == ["fwheeler"]
    assert users(search="erin@example.com") == ["erin"]
    assert users(search="frank@example.com") == []  # private email: GitLab cannot find him by it
    assert users(username="nobody") == []


# --- pagination and rate limits -----------------------------------------------------------------------


def test_pagination_headers_and_link(api: str) -> None:
    for n in range(5):
        create(api, title=f"Disk full {n}")
    url = f"{api}/projects/{INFRA_URL_ID}/issues"
    resp = requests.get(url, params={"per_page": "2", "page": "2", "search": "disk"}, headers=AUTH, timeout=5)
    h = resp.headers
    assert (h["X-Page"], h["X-Per-Page"], h["X-Total"], h["X-Total-Pages"]) == ("2", "2", "5", "3")
    assert (h["X-Next-Page"], h["X-Prev-Page"]) == ("3", "1")
    links = {rel: url for url, rel in (part.split("; rel=") for part in h["Link"].split(", "))}
    nxt = urlparse(links['"next"'].strip("<>"))
    assert nxt.path.endswith(f"/projects/{INFRA_URL_ID}/issues")
    assert parse_qs(nxt.query) == {"per_page": ["2"], "search": ["disk"], "page": ["3"]}
    assert set(links) == {'"prev"', '"next"', '"first"', '"last"'}
    assert [i["title"] for i in resp.json()] == ["Disk full 2", "Disk full 1"]

    last = requests.get(url, params={"per_page": "2", "page": "3"}, headers=AUTH, timeout=5)
    assert last.headers["X-Next-Page"] == "" and '"next"' not in last.headers["Link"]


def test_general_rate_limit_answers_429_with_gitlab_headers(api: str, gitlab: GitLabStandIn) -> None:
    gitlab.set_rate_limit(2, period=30)
    ok = requests.get(f"{api}/user", headers=AUTH, timeout=5)
    assert ok.headers["RateLimit-Limit"] == "2" and ok.headers["RateLimit-Remaining"] == "1"
    assert "Retry-After" not in ok.headers
    requests.get(f"{api}/user", headers=AUTH, timeout=5)
    limited = requests.get(f"{api}/user", headers=AUTH, timeout=5)
    assert limited.status_code == 429
    for header in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Observed", "Retry-After"):
        assert header in limited.headers
    assert limited.headers["RateLimit-Remaining"] == "0" and int(limited.headers["Retry-After"]) >= 1


def test_issue_creation_has_its_own_limit(api: str, gitlab: GitLabStandIn) -> None:
    gitlab.set_issue_create_limit(1, period=60)
    assert create(api, title="first").status_code == 201
    refused = create(api, title="second")
    assert refused.status_code == 429 and refused.json()["message"]["error"].startswith("This endpoint")
    assert refused.headers["RateLimit-Name"] == "issues_create" and "Retry-After" in refused.headers
    assert requests.get(f"{api}/projects/{INFRA_URL_ID}/issues", headers=AUTH, timeout=5).status_code == 200
    assert [i["title"] for i in gitlab.issues(INFRA)] == ["first"]


# --- webhooks ------------------------------------------------------------------------------------------


class HookReceiver:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length))
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        with self._lock:
            self.received.append((headers, body))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]


@pytest.fixture
def receiver(gitlab: GitLabStandIn) -> Iterator[HookReceiver]:
    hooks = HookReceiver()
    with RunningServer(hooks) as server:
        gitlab.add_webhook(f"{server.url}/gitlab/webhook", "hook-secret")
        yield hooks


def test_issue_and_note_hooks_carry_gitlab_headers_and_payloads(
    api: str, gitlab: GitLabStandIn, receiver: HookReceiver
) -> None:
    iid = create(api, title="Webhook me", labels=["bug"]).json()["iid"]
    gitlab.comment(INFRA, iid, "On it", by="erin")
    gitlab.relabel(INFRA, iid, add=["needs triage"], remove=["bug"], by="erin")
    gitlab.close_issue(INFRA, iid, by="erin")
    assert gitlab.wait_for_webhooks()

    events = [(h["X-Gitlab-Event"], b.get("object_attributes", {}).get("action")) for h, b in receiver.received]
    assert events == [
        ("Issue Hook", "open"),
        ("Note Hook", "create"),
        ("Issue Hook", "update"),
        ("Issue Hook", "close"),
    ]
    assert all(h["X-Gitlab-Token"] == "hook-secret" for h, _ in receiver.received)

    opened = receiver.received[0][1]
    assert opened["object_kind"] == "issue" and opened["event_type"] == "issue"
    assert opened["project"]["path_with_namespace"] == INFRA
    assert opened["object_attributes"]["iid"] == iid and opened["object_attributes"]["state"] == "opened"
    assert opened["object_attributes"]["url"].endswith(f"/{INFRA}/-/issues/{iid}")
    assert [label["title"] for label in opened["labels"]] == ["bug"]

    note = receiver.received[1][1]
    assert note["object_kind"] == "note" and note["user"]["username"] == "erin"
    assert note["object_attributes"]["note"] == "On it" and note["object_attributes"]["noteable_type"] == "Issue"
    assert note["issue"]["iid"] == iid

    relabelled = receiver.received[2][1]["changes"]["labels"]
    assert [label["title"] for label in relabelled["previous"]] == ["bug"]
    assert [label["title"] for label in relabelled["current"]] == ["needs triage"]

    closed = receiver.received[3][1]
    assert closed["object_attributes"]["state"] == "closed" and closed["user"]["username"] == "erin"
    assert closed["changes"]["state_id"] == {"previous": 1, "current": 2}


def test_relabels_by_quick_action_or_put_send_gitlabs_label_changes(
    api: str, gitlab: GitLabStandIn, receiver: HookReceiver
) -> None:
    """What a DRI's relabel looks like to the bot's webhook, whichever way it is made: one update hook whose
    `changes.labels` has every label before and after (the hook's `labels` are the ones after)."""
    gitlab.add_labels(INFRA, "team::infrastructure", "team::access-management")
    iid = create(api, title="Relabel me", labels="team::infrastructure,bug").json()["iid"]
    gitlab.comment(INFRA, iid, "/label ~team::access-management\n/unlabel ~team::infrastructure", by="erin")
    url = f"{api}/projects/{INFRA_URL_ID}/issues/{iid}"
    assert requests.put(url, json={"labels": "team::infrastructure,bug"}, headers=AUTH, timeout=5).status_code == 200
    assert requests.put(url, json={"labels": "team::infrastructure,bug"}, headers=AUTH, timeout=5).status_code == 200
    assert gitlab.wait_for_webhooks()
    updates = [b for h, b in receiver.received if b["object_attributes"]["action"] == "update"]
    assert len(updates) == 2  # the PUT that changed nothing sent nothing
    by_note, by_put = updates

    def titles(labels: list[dict[str, Any]]) -> list[str]:
        return [label["title"] for label in labels]

    assert titles(by_note["changes"]["labels"]["previous"]) == ["bug", "team::infrastructure"]
    assert titles(by_note["changes"]["labels"]["current"]) == ["bug", "team::access-management"]
    assert (
        titles(by_note["labels"])
        == titles(by_note["object_attributes"]["labels"])
        == ["bug", "team::access-management"]
    )
    assert by_note["user"]["username"] == "erin" and by_note["object_attributes"]["moved_to_id"] is None
    assert titles(by_put["changes"]["labels"]["current"]) == ["bug", "team::infrastructure"]
    assert by_put["user"]["username"] == "engops-bot"
    assert [h["X-Gitlab-Event"] for h, _ in receiver.received] == ["Issue Hook"] * 3  # no Note Hook: only commands


def test_confidential_issues_use_the_confidential_hooks(
    api: str, gitlab: GitLabStandIn, receiver: HookReceiver
) -> None:
    iid = create(api, title="Leaked key", confidential=True).json()["iid"]
    gitlab.comment(INFRA, iid, "rotating", by="erin")
    assert gitlab.wait_for_webhooks()
    assert [(h["X-Gitlab-Event"], b["event_type"]) for h, b in receiver.received] == [
        ("Confidential Issue Hook", "confidential_issue"),
        ("Confidential Note Hook", "confidential_note"),
    ]


def test_a_failing_webhook_is_recorded_and_does_not_break_the_stand_in(api: str, gitlab: GitLabStandIn) -> None:
    with RunningServer(HookReceiver()) as dead:
        url = f"{dead.url}/gitlab/webhook"
    gitlab.add_webhook(url, "s")
    assert create(api, title="still works").status_code == 201
    assert gitlab.wait_for_webhooks()
    [delivery] = gitlab.webhook_deliveries
    assert delivery.status is None and delivery.error
    assert create(api, title="and again").status_code == 201


def test_seeded_from_the_demo_directory() -> None:
    gitlab = GitLabStandIn.from_directory(demo_directory())
    names = {u.username for u in gitlab.users.values()}
    assert names == {"engops-bot", "erin", "fwheeler", "grace", "heidi", "ivan", "judy", "peggy"}
    assert {p.path_with_namespace for p in gitlab.projects.values()} == set(demo_directory().gitlab_projects)
    assert gitlab.state()["projects"][0]["issues"] == []
