"""GoogleAdapter's OAuth tokens, app passwords (Directory `tokens` / `asps`) and Data Transfer calls against the
Google stand-in, and every request they send checked against Google's own discovery documents."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.providers.errors import NotFoundError
from bot.providers.google import SCOPE_DATATRANSFER, GoogleAdapter
from engops.sandbox.base import RunningServer
from engops.sandbox.directory import demo_directory
from engops.sandbox.google import (
    DEFAULT_ADMIN_SUBJECT,
    GoogleStandIn,
    datatransfer_discovery,
    directory_discovery,
)

ALICE = "alice@example.com"


@pytest.fixture
def stand_in() -> GoogleStandIn:
    return GoogleStandIn.from_directory(demo_directory())


@pytest.fixture
def adapter(stand_in: GoogleStandIn, tmp_path: Path) -> Iterator[GoogleAdapter]:
    with RunningServer(stand_in) as server:
        key = stand_in.issue_key(tmp_path / "sa.json", server.url)
        yield GoogleAdapter(key.path, DEFAULT_ADMIN_SUBJECT, server.url, sleep=lambda _: None)


def _user_id(stand_in: GoogleStandIn, email: str) -> str:
    found = stand_in.user(email)
    assert found is not None
    return str(found["id"])


def test_tokens_and_app_passwords_listed_and_deleted(adapter: GoogleAdapter, stand_in: GoogleStandIn) -> None:
    alice = _user_id(stand_in, ALICE)
    tokens = adapter.list_tokens(alice)
    assert sorted(t.display_text for t in tokens) == ["Slack", "Zoom"]
    assert all(t.client_id.endswith(".apps.googleusercontent.com") and t.scopes for t in tokens)
    (password,) = adapter.list_app_passwords(alice)
    assert password.name == "Thunderbird"

    for token in tokens:
        adapter.delete_token(alice, token.client_id)
    adapter.delete_app_password(alice, password.code_id)
    assert adapter.list_tokens(alice) == [] and adapter.list_app_passwords(alice) == []
    assert stand_in.tokens(ALICE) == [] and stand_in.app_passwords(ALICE) == []
    with pytest.raises(NotFoundError):  # gone: Google answers 404, the step treats it as done
        adapter.delete_token(alice, tokens[0].client_id)
    with pytest.raises(NotFoundError):
        adapter.list_tokens("nobody@example.com")


def test_transfer_runs_until_completed(adapter: GoogleAdapter, stand_in: GoogleStandIn) -> None:
    stand_in.transfer_checks_to_finish = 2
    apps = adapter.transfer_applications()
    assert {"Drive and Docs", "Calendar"} <= set(apps)
    alice, mona = _user_id(stand_in, ALICE), _user_id(stand_in, "mona@example.com")
    wanted = {apps["Drive and Docs"]: [{"key": "PRIVACY_LEVEL", "value": ["PRIVATE", "SHARED"]}], apps["Calendar"]: []}
    started = adapter.start_transfer(alice, mona, wanted)
    assert (started.old_owner_id, started.new_owner_id, started.status) == (alice, mona, "inProgress")
    assert [t.id for t in adapter.find_transfers(alice, mona)] == [started.id]
    assert adapter.get_transfer(started.id).status == "inProgress"
    assert adapter.get_transfer(started.id).status == "completed"
    assert stand_in.transfers(ALICE)[0]["overallTransferStatusCode"] == "completed"
    with pytest.raises(NotFoundError):
        adapter.get_transfer("no-such-transfer")


def _methods(doc: dict[str, Any], resources: tuple[str, ...]) -> list[tuple[str, str, re.Pattern[str], set[str]]]:
    global_params = {name for name, spec in doc["parameters"].items() if spec.get("location") == "query"}
    methods = []
    for resource in resources:
        for method in doc["resources"][resource]["methods"].values():
            pattern = re.compile("^/" + re.sub(r"\{[^}]+\}", "[^/]+", method["flatPath"]) + "$")
            params = {n for n, s in method.get("parameters", {}).items() if s.get("location") == "query"}
            methods.append((method["id"], method["httpMethod"], pattern, params | global_params))
    return methods


def test_every_request_matches_the_discovery_documents(adapter: GoogleAdapter, stand_in: GoogleStandIn) -> None:
    alice, mona = _user_id(stand_in, ALICE), _user_id(stand_in, "mona@example.com")
    for token in adapter.list_tokens(alice):
        adapter.delete_token(alice, token.client_id)
    for password in adapter.list_app_passwords(alice):
        adapter.delete_app_password(alice, password.code_id)
    apps = adapter.transfer_applications()
    started = adapter.start_transfer(alice, mona, {apps["Drive and Docs"]: [], apps["Calendar"]: []})
    adapter.get_transfer(started.id)
    adapter.find_transfers(alice, mona)

    methods = _methods(directory_discovery(), ("tokens", "asps")) + _methods(
        datatransfer_discovery(), ("applications", "transfers")
    )
    transfer_properties = set(datatransfer_discovery()["schemas"]["DataTransfer"]["properties"])
    used = set()
    for call in (c for c in stand_in.calls if c.path != "/token"):
        matching = [m for m in methods if m[1] == call.method and m[2].match(call.path)]
        assert len(matching) == 1, f"{call.method} {call.path} is not one API method"
        method_id, _, _, params = matching[0]
        assert set(call.query) <= params, f"{method_id}: unknown query parameters {set(call.query) - params}"
        if call.body:
            assert set(call.json()) <= transfer_properties
        used.add(method_id)
    assert used == {
        "directory.tokens.list",
        "directory.tokens.delete",
        "directory.asps.list",
        "directory.asps.delete",
        "datatransfer.applications.list",
        "datatransfer.transfers.insert",
        "datatransfer.transfers.get",
        "datatransfer.transfers.list",
    }
    # what the stand-in serves has the discovery documents' shapes
    token_props = set(directory_discovery()["schemas"]["Token"]["properties"])
    asp_props = set(directory_discovery()["schemas"]["Asp"]["properties"])
    stand_in.add_token(ALICE, "Figma")
    stand_in.add_app_password(ALICE, "Outlook")
    assert all(set(t) <= token_props for t in stand_in.tokens(ALICE))
    assert all(set(a) <= asp_props for a in stand_in.app_passwords(ALICE))
    assert all(set(t) <= transfer_properties for t in stand_in.transfers())


def test_data_transfer_has_its_own_token_and_scope(adapter: GoogleAdapter, stand_in: GoogleStandIn) -> None:
    adapter.transfer_applications()
    adapter.list_tokens(_user_id(stand_in, ALICE))
    assert {tuple(sorted(g.scopes)) for g in stand_in.grants.values()} >= {(SCOPE_DATATRANSFER,)}
