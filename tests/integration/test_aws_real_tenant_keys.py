"""Key rotation when CreateAccessKey's answer is lost (issue 15, defect 4): AWS made the key, the bot never saw its
secret. A blind retry leaves that key active and untracked, or hits the two-key limit because of it. The bot must
settle: the lost key is deactivated and deleted, a new one is made, and the rotation ends as usual."""

from __future__ import annotations

import pytest

from engops.sandbox.aws import AwsFaults
from engops.sandbox.base import Fault
from engops.sandbox.stack import Stack
from tests.support.aws_keys import caller_arn, iam, keys_of, secret_versions, stored_secret
from tests.support.effects import request_status
from tests.support.slack_actions import open_preview
from tests.support.stacks import sweep_after

LOST_ANSWER = Fault(status=1, kind="timeout", after=True, path_prefix="iam.CreateAccessKey")


def rotate_alice(stack: Stack) -> None:
    assert stack.driver is not None
    open_preview(stack, "alice")
    stack.driver.submit_view("alice", {})
    stack.wait_idle()


@pytest.mark.parametrize("has_old_key", [True, False], ids=["with-old-key", "first-key"])
def test_lost_create_answer_leaves_no_untracked_key(stack: Stack, has_old_key: bool) -> None:
    (old,) = keys_of(stack, "alice")
    if not has_old_key:
        iam(stack).delete_access_key(UserName="alice", AccessKeyId=old)
    stack.aws_faults.inject(LOST_ANSWER)

    rotate_alice(stack)

    assert stack.aws_faults.failed["iam.CreateAccessKey"] == 1  # AWS made a key whose answer was lost
    assert stack.aws_faults.calls["iam.CreateAccessKey"] == 2
    keys = keys_of(stack, "alice")
    new = set(keys) - {old}
    assert len(new) == 1, keys  # the lost key is gone, not left active beside the new one
    (new_key,) = new
    secret = stored_secret(stack, "engops/iam/alice")
    assert secret["AccessKeyId"] == new_key and caller_arn(stack, secret).endswith(":user/alice")
    assert secret_versions(stack, "engops/iam/alice") == 1
    if has_old_key:
        assert keys == {old: "Active", new_key: "Active"}
        assert request_status(stack, 1) == "running"
        sweep_after(stack, days=1, minutes=1)
        sweep_after(stack, days=6)
    assert keys_of(stack, "alice") == {new_key: "Active"}
    assert request_status(stack, 1) == "done"


def test_answers_lost_every_time_fail_the_rotation_and_leave_nothing(stack: Stack) -> None:
    (old,) = keys_of(stack, "alice")
    stack.aws_faults.inject(Fault(status=1, kind="timeout", after=True, path_prefix="iam.CreateAccessKey", remaining=3))

    rotate_alice(stack)

    assert stack.aws_faults.failed["iam.CreateAccessKey"] == 3
    assert keys_of(stack, "alice") == {old: "Active"}  # every key AWS made was deleted again
    assert request_status(stack, 1) == "failed"
    assert stack.driver is not None
    assert "Retry failed steps" in stack.driver.dm_text("alice")


# --- the adapter: CreateAccessKey is retried only when it surely did not happen -------------------------------------


def test_create_key_is_not_retried_after_a_lost_answer(stack: Stack) -> None:
    from bot.providers.aws import AwsAdapter, KeyCreationUnknown

    assert stack.moto is not None
    faults = AwsFaults()
    aws = AwsAdapter(stack.moto.url, "us-east-1", session=faults.session(), sleep=lambda _: None)
    (old,) = keys_of(stack, "victor")
    faults.inject(LOST_ANSWER)
    with pytest.raises(KeyCreationUnknown):
        aws.create_key("victor")
    assert faults.calls["iam.CreateAccessKey"] == 1
    assert len(keys_of(stack, "victor")) == 2  # AWS made it: the caller must settle, the adapter cannot

    faults.inject(Fault(status=400, kind="ratelimit", path_prefix="iam.CreateAccessKey"))
    iam(stack).delete_access_key(UserName="victor", AccessKeyId=(set(keys_of(stack, "victor")) - {old}).pop())
    key, _ = aws.create_key("victor")  # throttled means not done: retried
    assert faults.calls["iam.CreateAccessKey"] == 3
    assert set(keys_of(stack, "victor")) == {old, key.id}


def test_a_key_made_by_hand_meanwhile_is_never_settled(stack: Stack) -> None:
    """The rotation failed (Secrets Manager refused); someone rotates by hand meanwhile. Retry must not take the
    hand-made key for a leftover of the bot's: it is left alone, and the step says so."""
    (old,) = keys_of(stack, "alice")
    stack.aws_faults.inject(Fault(status=400, path_prefix="secrets-manager.", remaining=None))
    rotate_alice(stack)
    assert request_status(stack, 1) == "failed"
    assert keys_of(stack, "alice") == {old: "Active"}  # the bot's key went with its unstored secret
    by_hand = iam(stack).create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
    stack.aws_faults.clear_faults()

    assert stack.driver is not None
    assert stack.driver.click("alice", "Retry failed steps").status == 200
    stack.wait_idle()

    assert keys_of(stack, "alice") == {old: "Active", by_hand: "Active"}
    assert request_status(stack, 1) == "failed"
    assert f"alice has a key the bot did not make ({by_hand}" in stack.driver.dm_text("alice")
