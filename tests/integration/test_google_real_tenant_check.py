"""`engops check --live` against Google Workspace as a real tenant answers it (issue 15): each scope not delegated
to the service account's client id is one line naming it (Google's token endpoint refuses it with
`unauthorized_client`), and the admin subject's privileges are proved as far as reading can prove them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from engops.sandbox.google import (
    DATA_TRANSFER,
    DEFAULT_DELEGATED_SCOPES,
    SCOPE_DATATRANSFER,
    SCOPE_USER,
    SCOPE_USER_SECURITY,
    USERS_READ,
)
from engops.sandbox.stack import Stack
from tests.support.cli import run

DELEGATION = "add it in Admin console > Security > API controls > Domain-wide delegation"


@dataclass(frozen=True)
class GoogleLines:
    lines: list[str]  # the google lines of the output
    returncode: int
    client_id: str  # of the key the check used


def check_live(
    stack: Stack, tmp_path: Path, scopes: Iterable[str] = DEFAULT_DELEGATED_SCOPES, subject: str | None = None
) -> GoogleLines:
    """`engops check --live` with a fresh service-account key whose client id has `scopes` delegated."""
    key = stack.google.issue_key(tmp_path / "sa.json", stack.env["GOOGLE_API_URL"], scopes)
    env = {**stack.env, "GOOGLE_APPLICATION_CREDENTIALS": str(key.path)}
    if subject is not None:
        env["GOOGLE_ADMIN_SUBJECT"] = subject
    result = run(["check", "--live"], env)
    lines = [line for line in result.stdout.splitlines() if line[5:].startswith("google:")]
    return GoogleLines(lines, result.returncode, key.client_id)


def test_each_scope_not_delegated_is_named(stack: Stack, tmp_path: Path) -> None:
    result = check_live(stack, tmp_path, scopes=[SCOPE_USER])
    assert result.lines == [
        f"FAIL google: scope {SCOPE_USER_SECURITY} is not delegated to client id {result.client_id}: {DELEGATION}",
        f"FAIL google: scope {SCOPE_DATATRANSFER} is not delegated to client id {result.client_id}: {DELEGATION}",
    ]
    assert result.returncode == 1


def test_only_the_transfer_scope_missing(stack: Stack, tmp_path: Path) -> None:
    result = check_live(stack, tmp_path, scopes=[SCOPE_USER, SCOPE_USER_SECURITY])
    assert result.lines == [
        f"FAIL google: scope {SCOPE_DATATRANSFER} is not delegated to client id {result.client_id}: {DELEGATION}",
        "ok   google: acting as engops-admin@example.com, a super admin (every privilege)",
    ]


def test_everything_delegated_to_a_super_admin(stack: Stack, tmp_path: Path) -> None:
    result = check_live(stack, tmp_path)
    assert result.lines == [
        "ok   google: acting as engops-admin@example.com, a super admin (every privilege)",
        "ok   google: Data Transfer API: 3 applications readable",
    ]


def test_a_subject_that_is_no_admin_may_not_read_users(stack: Stack, tmp_path: Path) -> None:
    result = check_live(stack, tmp_path, subject="alice@example.com")
    lines = result.lines
    assert lines[0].startswith(
        "FAIL google: alice@example.com may not read users (forbidden: Not Authorized to access this resource/api): "
        "make it a super admin, or give its admin role Users > Read and Users > Update"
    ), lines
    assert lines[1] == (
        "FAIL google: alice@example.com may not use the Data Transfer API (forbidden: Not Authorized to access this "
        "resource/api): grant Data Transfer"
    )


def test_a_delegated_admin_is_told_what_cannot_be_proved(stack: Stack, tmp_path: Path) -> None:
    stack.google.add_user("helpdesk-bot@example.com", "Helpdesk", "Bot", admin_privileges=[USERS_READ])
    result = check_live(stack, tmp_path, subject="helpdesk-bot@example.com")
    lines = result.lines
    assert lines[0].startswith(
        "ok   google: acting as helpdesk-bot@example.com, a delegated admin: Users > Read proved; check --live "
        "cannot prove the rest"
    ), lines
    assert lines[1].startswith("FAIL google: helpdesk-bot@example.com may not use the Data Transfer API")

    stack.google.add_user("transfer-bot@example.com", "Transfer", "Bot", admin_privileges=[USERS_READ, DATA_TRANSFER])
    lines = check_live(stack, tmp_path, subject="transfer-bot@example.com").lines
    assert lines[1] == "ok   google: Data Transfer API: 3 applications readable"


def test_an_unknown_subject_is_one_line(stack: Stack, tmp_path: Path) -> None:
    result = check_live(stack, tmp_path, subject="nobody@example.com")
    assert result.lines == ["FAIL google: token refused as nobody@example.com: invalid_grant: Invalid email or User ID"]
