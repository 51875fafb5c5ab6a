"""`engops check --live` proves the GitLab token can do the bot's job (issue #15): the token's scope (`api`) and at
least Reporter in every tracker, one line each naming what to grant; and the stand-in refuses what a token's scope
or role does not allow, as GitLab does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from engops.sandbox.base import RunningServer
from engops.sandbox.directory import demo_directory
from engops.sandbox.gitlab import DEFAULT_TOKEN, GitLabStandIn
from engops.sandbox.stack import Stack
from tests.support.cli import run
from tests.support.gitlab import INFRA, INTEGRATIONS, OPERATIONS

INFRA_URL_ID = "bt-engineering%2Finfrastructure%2Fissue-tracker"
READ_ONLY = "glpat-read-api-only"


def gitlab_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if "gitlab" in line]


def test_check_live_names_the_scope_to_grant(stack: Stack) -> None:
    stack.gitlab.add_token(READ_ONLY, "engops-bot", scopes=["read_api", "read_user"])
    result = run(["check", "--live"], {**stack.env, "GITLAB_TOKEN": READ_ONLY})
    assert result.returncode == 1
    lines = gitlab_lines(result.stdout)
    [scope] = [line for line in lines if "gitlab token scope" in line]
    assert scope.startswith("FAIL") and "the token has read_api, read_user; grant it the `api` scope" in scope
    assert [line for line in lines if line.startswith("FAIL")] == [scope]  # it can still read everything else
    assert READ_ONLY not in result.stdout + result.stderr


def test_check_live_names_the_role_to_grant_in_each_tracker(stack: Stack) -> None:
    stack.gitlab.set_member(INFRA, "engops-bot", 10)  # Guest
    stack.gitlab.set_member(INTEGRATIONS, "engops-bot", None)  # not a member
    stack.gitlab.set_member(OPERATIONS, "engops-bot", 20)  # Reporter: enough
    result = run(["check", "--live"], stack.env)
    assert result.returncode == 1
    failing = [line for line in gitlab_lines(result.stdout) if line.startswith("FAIL")]
    assert failing == [
        f"FAIL gitlab tracker {INFRA} (teams.infrastructure): the token's user is Guest; make it Reporter (or higher)",
        f"FAIL gitlab tracker {INTEGRATIONS} (teams.integrations): "
        "the token's user is not a member; add it as Reporter (or higher)",
    ]
    assert f"ok   gitlab tracker {OPERATIONS} (teams.operations): Reporter" in result.stdout
    assert "ok   gitlab token scope: api" in result.stdout
    assert "gitlab user of" in result.stdout  # the DRI lookups are still there


def test_the_fully_permitted_token_passes_every_gitlab_line(stack: Stack) -> None:
    result = run(["check", "--live"], stack.env)
    lines = gitlab_lines(result.stdout)
    assert lines and all(line.startswith("ok") for line in lines), result.stdout
    assert sum("gitlab tracker" in line for line in lines) == 4
    assert sum("gitlab user of erin@example.com" in line for line in lines) == 1  # a DRI of two teams, once


# --- the stand-in, as GitLab answers -----------------------------------------------------------------


@pytest.fixture
def gitlab() -> GitLabStandIn:
    return GitLabStandIn.from_directory(demo_directory())


@pytest.fixture
def api(gitlab: GitLabStandIn) -> Iterator[str]:
    with RunningServer(gitlab) as server:
        yield f"{server.url}/api/v4"


def test_a_read_api_token_reads_but_cannot_write(api: str, gitlab: GitLabStandIn) -> None:
    gitlab.add_token(READ_ONLY, "engops-bot", scopes=["read_api"])
    auth = {"PRIVATE-TOKEN": READ_ONLY}
    created = requests.post(f"{api}/projects/{INFRA_URL_ID}/issues", json={"title": "x"}, headers=auth, timeout=5)
    assert created.status_code == 403
    assert created.json() == {
        "error": "insufficient_scope",
        "error_description": "The request requires higher privileges than provided by the access token.",
        "scope": "api",
    }
    assert gitlab.issues(INFRA) == []
    assert requests.get(f"{api}/projects/{INFRA_URL_ID}/issues", headers=auth, timeout=5).status_code == 200
    token = requests.get(f"{api}/personal_access_tokens/self", headers=auth, timeout=5).json()
    assert token["scopes"] == ["read_api"] and token["user_id"] == gitlab.bot.id and token["active"]


def test_a_read_user_token_reaches_only_users_and_itself(api: str, gitlab: GitLabStandIn) -> None:
    gitlab.add_token("glpat-user", "engops-bot", scopes=["read_user"])
    auth = {"PRIVATE-TOKEN": "glpat-user"}
    assert requests.get(f"{api}/user", headers=auth, timeout=5).status_code == 200
    refused = requests.get(f"{api}/projects/{INFRA_URL_ID}", headers=auth, timeout=5)
    assert refused.status_code == 403 and refused.json()["scope"] == "api read_api"
    assert requests.get(f"{api}/personal_access_tokens/self", headers=auth, timeout=5).json()["scopes"] == ["read_user"]


def test_membership_and_what_a_guest_may_set(api: str, gitlab: GitLabStandIn) -> None:
    auth = {"PRIVATE-TOKEN": DEFAULT_TOKEN}
    member = requests.get(f"{api}/projects/{INFRA_URL_ID}/members/all/{gitlab.bot.id}", headers=auth, timeout=5)
    assert member.status_code == 200 and member.json()["access_level"] == 30
    gitlab.set_member(INFRA, "engops-bot", None)
    gone = requests.get(f"{api}/projects/{INFRA_URL_ID}/members/all/{gitlab.bot.id}", headers=auth, timeout=5)
    assert gone.status_code == 404 and gone.json() == {"message": "404 Not found"}
    gitlab.set_member(INFRA, "engops-bot", 10)  # Guest: may file, but labels and assignees are dropped
    erin = gitlab.user_by_username("erin").id
    fields = {"title": "Printer", "labels": "chatops", "assignee_ids": [erin]}
    created = requests.post(f"{api}/projects/{INFRA_URL_ID}/issues", json=fields, headers=auth, timeout=5)
    assert created.status_code == 201 and created.json()["labels"] == [] and created.json()["assignees"] == []
