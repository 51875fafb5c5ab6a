"""Bulk offboarding: several people in one command, and 50 people from a CSV under low provider rate limits."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from bot import audit
from engops.cli_offboard import submit
from engops.sandbox.directory import Person, demo_directory
from engops.sandbox.slack import message_as_text
from engops.sandbox.stack import Stack, StackOptions
from tests.support.aws_keys import key_statuses
from tests.support.slack import progress_message, progress_text
from tests.support.slack_actions import offboard

LEAVERS = 50
TEAM_CHANNEL = "#bt-engineering-access-manager"


@pytest.fixture
def big_stack(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    base = demo_directory()
    leavers = tuple(
        Person(
            handle=f"leaver{i:02d}",
            name=f"Leaver {i}",
            slack_id=f"U8{i:07d}",
            okta_id=f"00u8{i:016d}",
            manager="mona",
            okta_groups=("everyone",),
            iam_user=f"leaver{i:02d}" if i % 2 else None,
        )
        for i in range(LEAVERS)
    )
    stack = Stack.start(
        StackOptions(data_dir=tmp_path, database_url=database_url, manual_clock=True, fast_retries=True),
        replace(base, people=base.people + leavers),
    )
    try:
        yield stack
    finally:
        stack.stop()


def test_several_people_in_one_command_are_one_request_with_one_progress_message(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    # (IT admins are protected from offboarding, SPEC §6.3: tests/scenario/test_identity_offboarding.py)
    shown = offboard(stack, "hank", "alice@example.com <mailto:bob@example.com|bob@example.com>, nina@example.com")
    assert "(3 of 3 people)" in shown
    assert "AWS: no IAM user (skipped)" in shown
    assert "Approve" in driver.labels(driver.latest("grace"))
    driver.click("grace", "Approve")
    stack.wait_idle()
    for email in ("alice@example.com", "bob@example.com", "nina@example.com"):
        assert stack.google.is_suspended(email) and stack.okta.user_status(email) == "SUSPENDED"
    assert key_statuses(stack, "alice") == ["Inactive"]
    # SPEC §5: the IAM user tagged email=, else named like the email or its local part; bob's
    # untagged "bob.brown" is neither, so it is not his as far as the bot can tell
    assert key_statuses(stack, "bob.brown") == ["Active"]
    text = progress_text(stack)  # asserts there is exactly one
    assert "3/3 finished" in text and "Done" in text
    assert [i["title"] for i in stack.gitlab.issues("bt-engineering/access-manager/issue-tracker")] == [
        "Offboarding REQ-1: 3 people"
    ]
    assert "Done: REQ-1 offboarded 3 people" in driver.dm_text("hank")


def test_fifty_people_under_low_rate_limits_finish_without_a_visible_failure(big_stack: Stack, tmp_path: Path) -> None:
    stack = big_stack
    driver = stack.driver
    assert driver is not None and stack.web is not None
    services = stack.web.services
    stack.wait_idle()
    # Okta binds (2 writes a person); Google's adapter paces at 40/s with a second of burst
    okta_writes_per_second, google_per_second = 20, 100
    stack.okta.set_rate_limit(okta_writes_per_second, period=1, writes_only=True)
    stack.google.set_rate_limit(google_per_second, period=1)
    people = tmp_path / "leavers.csv"
    people.write_text("email,reason\n" + "".join(f"leaver{i:02d}@example.com,reorg\n" for i in range(LEAVERS)))
    req = submit(
        services.db,
        services.dispatcher,
        services.settings,
        services.policy,
        people,
        "hank@example.com",
        Console(file=None, quiet=True),
    )
    assert req is not None and req.id == 1
    stack.wait_idle(timeout=60)
    driver.click("grace", "Approve")
    stack.wait_idle(timeout=120)

    for i in range(LEAVERS):
        email = f"leaver{i:02d}@example.com"
        assert stack.google.is_suspended(email) and stack.okta.user_status(email) == "SUSPENDED", email
        assert stack.okta.sessions_cleared[email] == 1
    assert all(key_statuses(stack, f"leaver{i:02d}") == ["Inactive"] for i in range(1, LEAVERS, 2))
    text = message_as_text(progress_message(stack, TEAM_CHANNEL).text, progress_message(stack, TEAM_CHANNEL).blocks)
    assert f"{LEAVERS}/{LEAVERS} finished" in text and "Done" in text and "fail" not in text.lower()
    assert "Done: REQ-1 offboarded 50 people" in driver.dm_text("hank")
    assert "fail" not in driver.dm_text("hank").lower()

    # the limits were respected: Okta saw at most 10 calls at once, and the adapters' pacing kept 429s rare
    okta_writes = [c for c in stack.okta.calls if c.method in ("POST", "DELETE")]
    assert stack.okta.max_in_flight <= 10
    assert stack.okta.write_limiter is not None and stack.okta.write_limiter.rejected <= len(okta_writes) // 20
    assert stack.google.limiter is not None and stack.google.limiter.accepted >= 3 * LEAVERS
    assert stack.google.limiter.rejected <= stack.google.limiter.accepted // 20
    # one progress message, updated at most once a second
    progress = progress_message(stack, TEAM_CHANNEL)
    updates = sorted(
        c.at
        for c in stack.slack.calls
        if c.path.endswith("/chat.update") and c.status == 200 and progress.ts in c.text()
    )
    assert len(updates) >= 2
    assert all(later - earlier >= 1.0 for earlier, later in zip(updates, updates[1:], strict=False))
    # every outcome is in the audit chain, which still verifies
    assert audit.verify(services.db).ok
