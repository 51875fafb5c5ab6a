"""AWS key rotation end to end: /rotate-keys as Slack sends it, effects read back from moto (IAM, Secrets Manager)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engops.sandbox.aws import backdate_access_key
from engops.sandbox.slack import message_as_text
from engops.sandbox.stack import Stack
from tests.support.aws_keys import caller_arn, iam, keys_of, secret_versions, stored_secret
from tests.support.effects import request_status
from tests.support.slack import last_ephemeral, reply_to
from tests.support.slack_actions import open_preview, preview_text, rotate
from tests.support.stacks import sweep_after


# --- helpers ---------------------------------------------------------------------------------------------------------
def latest_labels(stack: Stack, who: str) -> list[str]:
    """The buttons on the newest message in someone's DM with the app."""
    assert stack.driver is not None
    latest = stack.driver.latest(who)
    return stack.driver.labels(latest) if latest is not None else []


# --- tests ------------------------------------------------------------------------------------------------------------
def test_own_key_rotation_end_to_end(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    (old,) = keys_of(stack, "alice")
    created = iam(stack).list_access_keys(UserName="alice")["AccessKeyMetadata"][0]["CreateDate"]
    text = open_preview(stack, "alice")
    # the preview lists the key with its age and last use before anything changes
    assert "IAM user `alice`" in text and old in text
    assert f"{(stack.clock.now() - created).days} days old (created {created:%Y-%m-%d})" in text
    assert "last used 20 days ago" in text
    assert keys_of(stack, "alice") == {old: "Active"}

    driver.submit_view("alice", {})
    stack.wait_idle()
    keys = keys_of(stack, "alice")
    (new,) = set(keys) - {old}
    assert keys == {old: "Active", new: "Active"}
    secret = stored_secret(stack, "engops/iam/alice")
    assert secret["AccessKeyId"] == new
    assert caller_arn(stack, secret).endswith(":user/alice")  # the new key works
    assert secret_versions(stack, "engops/iam/alice") == 1
    dms = driver.dm_text("alice")
    assert "engops/iam/alice" in dms and "arn:aws:secretsmanager:" in dms
    assert secret["SecretAccessKey"] not in dms
    assert "Reactivate old key" in latest_labels(stack, "alice")

    sweep_after(stack, hours=23)
    assert keys_of(stack, "alice")[old] == "Active"  # grace not over yet
    sweep_after(stack, hours=1, minutes=1)
    assert keys_of(stack, "alice") == {old: "Inactive", new: "Active"}
    assert "is now deactivated" in driver.dm_text("alice")

    sweep_after(stack, days=5, hours=23)
    assert old in keys_of(stack, "alice")
    sweep_after(stack, hours=1)
    assert keys_of(stack, "alice") == {new: "Active"}
    assert "was deleted. The rotation is complete" in driver.dm_text("alice")
    assert request_status(stack, 1) == "done"
    notice = next(m for m in stack.slack.dm("alice") if "engops/iam/alice" in m.text)
    assert "Reactivate old key" not in driver.labels(notice)  # updated in place: the grace period is over
    assert "The rotation is complete" in message_as_text(notice.text, notice.blocks)


def test_refusals_two_keys_delete_inactive_and_not_yours(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    (first,) = keys_of(stack, "alice")
    second = iam(stack).create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
    text = open_preview(stack, "alice")
    assert "already has two active access keys" in text
    view = driver.current_view("alice")
    assert view is not None and "submit" not in view.body and "Delete inactive key" not in driver.labels(view)

    iam(stack).update_access_key(UserName="alice", AccessKeyId=second, Status="Inactive")
    text = open_preview(stack, "alice")
    assert f"Delete the inactive key {second} first" in text
    driver.click("alice", "Delete inactive key", view=True)
    stack.wait_idle()
    assert keys_of(stack, "alice") == {first: "Active"}
    text = preview_text(stack, "alice")
    assert f"Deleted the inactive key {second}" in text
    driver.submit_view("alice", {})
    stack.wait_idle()
    assert len(keys_of(stack, "alice")) == 2 and stored_secret(stack, "engops/iam/alice")["AccessKeyId"] != first

    # nobody may rotate someone else's own IAM user; people without one are told so
    assert "neither your own IAM user nor a service user" in open_preview(stack, "dave", "alice")
    assert "No IAM user is tagged email=carol@example.com" in open_preview(stack, "carol")
    assert "not an IAM user name" in reply_to(stack, "dave", "/rotate-keys", "alice; rm -rf")


def test_service_user_needs_its_owner_and_owner_can_roll_back(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    (old,) = keys_of(stack, "svc-deploy")
    open_preview(stack, "bob", "svc-deploy")
    driver.submit_view("bob", {"Reason": "   "})  # a reason is required for a service user
    view = driver.current_view("bob")
    assert view is not None and "reason" in view.errors
    driver.submit_view("bob", {"Reason": "Deploy key is past 90 days"})
    stack.wait_idle()
    assert keys_of(stack, "svc-deploy") == {old: "Active"}  # nothing before the owner approves
    card = driver.latest("erin")
    assert card is not None and "Approve" in driver.labels(card)
    assert "create a new access key for IAM user svc-deploy" in driver.dm_text("erin")
    driver.click("grace", "Approve", channel="#general")  # an it-admin is not an approver of the owners step
    stack.wait_idle()
    assert "not an approver" in last_ephemeral(stack, "grace")
    assert len(keys_of(stack, "svc-deploy")) == 1

    driver.click("erin", "Approve")
    stack.wait_idle()
    keys = keys_of(stack, "svc-deploy")
    (new,) = set(keys) - {old}
    assert stored_secret(stack, "engops/iam/svc-deploy")["AccessKeyId"] == new
    assert "engops/iam/svc-deploy" in driver.dm_text("bob") and "engops/iam/svc-deploy" in driver.dm_text("erin")

    sweep_after(stack, days=1, minutes=1)
    assert keys_of(stack, "svc-deploy")[old] == "Inactive"
    driver.click("bob", "Reactivate old key")  # the requester is not an owner
    stack.wait_idle()
    assert "Only the owners of svc-deploy" in last_ephemeral(stack, "bob")
    assert keys_of(stack, "svc-deploy")[old] == "Inactive"
    driver.click("erin", "Reactivate old key")
    stack.wait_idle()
    assert keys_of(stack, "svc-deploy") == {old: "Active", new: "Active"}  # both keys stay
    assert "rolled back by erin@example.com" in driver.dm_text("bob")
    assert request_status(stack, 1) == "cancelled"
    sweep_after(stack, days=8)
    assert keys_of(stack, "svc-deploy") == {old: "Active", new: "Active"}  # the rest was cancelled


def test_sole_owner_asking_goes_to_it_admins(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    rotate(stack, "erin", "svc-deploy", reason="Rotating my own service user")
    mine = driver.latest("erin")
    assert mine is not None and "Approve" not in driver.labels(mine)
    assert "Approve" in latest_labels(stack, "grace")
    driver.click("heidi", "Approve")
    stack.wait_idle()
    assert len(keys_of(stack, "svc-deploy")) == 2


def test_old_key_used_after_rotation_postpones_deactivation(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    (old,) = keys_of(stack, "dave")
    created = iam(stack).list_access_keys(UserName="dave")["AccessKeyMetadata"][0]["CreateDate"]
    rotate(stack, "dave")
    backdate_access_key(old, created, last_used=datetime.now(UTC) + timedelta(minutes=1))  # still in use

    sweep_after(stack, days=1, minutes=1)
    assert keys_of(stack, "dave")[old] == "Active"
    assert "after the new key was created, so it stays active" in driver.dm_text("dave")
    # used again since that check: postponed again
    backdate_access_key(old, created, last_used=stack.clock.now() + timedelta(hours=1))
    sweep_after(stack, days=1, minutes=1)
    assert keys_of(stack, "dave")[old] == "Active"
    assert "since the last check, so it stays active" in driver.dm_text("dave")
    # not used since: deactivated on the next check
    sweep_after(stack, days=1, minutes=1)
    assert keys_of(stack, "dave")[old] == "Inactive"


def test_daily_scan_nudges_owners_once_a_day_with_rotate_now(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    # The scan runs at 09:00 UTC: start the story at noon so the hour steps below never straddle it,
    # whatever time of day the suite runs.
    now = stack.clock.now()
    noon = now.replace(hour=12, minute=0, second=0, microsecond=0)
    stack.advance(seconds=((noon - now).total_seconds()) % 86400)
    stack.run_sweep()
    stack.wait_idle()
    assert "Rotate now" not in driver.dm_text("alice")  # the first scan comes a day after the first start
    sweep_after(stack, days=2)
    for person in ("alice", "dave", "leo"):  # own keys older than 90d (seeded 95-200 days)
        assert "Rotate now" in latest_labels(stack, person), person
    assert "svc-deploy" in driver.dm_text("erin") and "Rotate now" in driver.dm_text("erin")  # a service user's owner
    assert "older than 90d" not in driver.dm_text("victor")  # 14 days old
    summary = driver.dm_text("grace")
    assert "Daily AWS key-age scan" in summary
    for user in ("alice", "dave", "leo", "svc-deploy", "bob.brown"):
        assert f"{user}" in summary
    assert "nobody told" in summary  # bob.brown: not tagged, no Slack user by its name
    sweep_after(stack, hours=1)
    assert driver.dm_text("grace").count("Daily AWS key-age scan") == 1
    assert driver.dm_text("heidi").count("Daily AWS key-age scan") == 1

    (old,) = keys_of(stack, "alice")
    driver.click("alice", "Rotate now")
    stack.wait_idle()
    assert old in preview_text(stack, "alice")
    driver.submit_view("alice", {})
    stack.wait_idle()
    assert len(keys_of(stack, "alice")) == 2
    sweep_after(stack, days=1)
    assert driver.dm_text("grace").count("Daily AWS key-age scan") == 2
    assert "`alice`" not in driver.dm_text("grace").split("Daily AWS key-age scan")[-1]  # being retired: not listed
