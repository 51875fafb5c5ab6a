"""Key rotation under crashes: the process 'dies' between (and inside) the protocol's steps, the worker starts
again on the same database, DBOS recovers the workflow, and the rotation completes with exactly one new key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.providers.errors import TransientError
from engops.sandbox.stack import Stack
from tests.support.aws_keys import caller_arn, keys_of, secret_versions, stored_secret
from tests.support.effects import request_status
from tests.support.slack_actions import open_preview
from tests.support.stacks import crash_and_restart, sweep_after
from workflows.keys.failpoints import FAILPOINTS


@pytest.fixture(autouse=True)
def _disarmed() -> Iterator[None]:
    FAILPOINTS.disarm_all()
    yield
    FAILPOINTS.disarm_all()


def notices(stack: Stack, user: str) -> int:
    return sum("stored in Secrets Manager as" in m.text for m in stack.slack.dm(user))


# inside "create and store" (after the key exists, before / after its secret is stored) and between steps
@pytest.mark.parametrize(
    "point", ["before_create", "after_create_key", "after_store_secret", "before_start_grace", "before_notices"]
)
def test_crash_during_rotation_leaves_exactly_one_new_key(stack: Stack, point: str) -> None:
    driver = stack.driver
    assert driver is not None
    (old,) = keys_of(stack, "alice")
    hit = FAILPOINTS.arm(point)
    open_preview(stack, "alice")
    driver.submit_view("alice", {})
    crash_and_restart(stack, hit)

    keys = keys_of(stack, "alice")
    assert old in keys and len(keys) == 2, keys  # no orphan, no third-key failure
    (new,) = set(keys) - {old}
    secret = stored_secret(stack, "engops/iam/alice")
    assert secret["AccessKeyId"] == new and caller_arn(stack, secret).endswith(":user/alice")
    assert secret_versions(stack, "engops/iam/alice") == 1  # the retry made no second version
    assert notices(stack, "alice") == 1
    assert request_status(stack, 1) == "running"

    sweep_after(stack, days=1, minutes=1)
    assert keys_of(stack, "alice") == {old: "Inactive", new: "Active"}
    sweep_after(stack, days=6)
    assert keys_of(stack, "alice") == {new: "Active"}
    assert request_status(stack, 1) == "done"


@pytest.mark.parametrize("points", [("before_deactivate", "before_delete"), ("after_deactivate", "after_delete")])
def test_crash_while_retiring_the_old_key(stack: Stack, points: tuple[str, str]) -> None:
    driver = stack.driver
    assert driver is not None
    (old,) = keys_of(stack, "alice")
    open_preview(stack, "alice")
    driver.submit_view("alice", {})
    stack.wait_idle()
    (new,) = set(keys_of(stack, "alice")) - {old}

    hit = FAILPOINTS.arm(points[0])
    stack.advance(days=1, minutes=1)
    stack.run_sweep()
    crash_and_restart(stack, hit)
    assert keys_of(stack, "alice") == {old: "Inactive", new: "Active"}
    assert driver.dm_text("alice").count("is now deactivated") == 1

    hit = FAILPOINTS.arm(points[1])
    stack.advance(days=6)
    stack.run_sweep()
    crash_and_restart(stack, hit)
    assert keys_of(stack, "alice") == {new: "Active"}
    assert driver.dm_text("alice").count("was deleted. The rotation is complete") == 1
    assert request_status(stack, 1) == "done"


def test_secrets_manager_down_deletes_the_new_key_and_retry_completes(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = stack.driver
    assert driver is not None and stack.web is not None
    aws: Any = stack.web.services.runtime.aws

    def unavailable(*_: object, **__: object) -> str:
        raise TransientError("aws", "PutSecretValue: ServiceUnavailable", 503)

    monkeypatch.setattr(aws, "put_secret", unavailable)
    (old,) = keys_of(stack, "alice")
    open_preview(stack, "alice")
    driver.submit_view("alice", {})
    stack.wait_idle()
    assert keys_of(stack, "alice") == {old: "Active"}  # the key without a stored secret is gone
    assert "REQ-1 failed: Secrets Manager" in driver.dm_text("alice")
    assert request_status(stack, 1) == "failed"

    monkeypatch.undo()
    driver.click("alice", "Retry failed steps")
    stack.wait_idle()
    keys = keys_of(stack, "alice")
    (new,) = set(keys) - {old}
    assert stored_secret(stack, "engops/iam/alice")["AccessKeyId"] == new
    assert notices(stack, "alice") == 1
