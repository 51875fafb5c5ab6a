"""A new secret access key goes to Secrets Manager and nowhere else: not to Slack, GitLab, Okta or Google, not
into any log line, not into any table (ours or DBOS's, where step outputs are pickled), not into the audit."""

from __future__ import annotations

import base64
import logging
import pickle

import pytest

from bot import audit
from engops.sandbox.aws import backdate_access_key
from engops.sandbox.base import StandIn
from engops.sandbox.stack import Stack
from tests.support.aws_keys import iam, keys_of, stored_secret
from tests.support.aws_secrets import capture_new_secrets
from tests.support.secret_search import database_dump, found_in
from tests.support.slack_actions import open_preview
from tests.support.stacks import crash_and_restart, sweep_after
from workflows.keys.failpoints import FAILPOINTS


def standin_traffic(standin: StandIn) -> str:
    return "\n".join(f"{c.method} {c.path} {c.query} {c.headers} {c.text()}" for c in standin.calls)


def test_the_search_finds_a_secret_wherever_it_hides() -> None:
    """The checks below can fail: a secret in plain text, pickled and base64-encoded (as DBOS stores step
    outputs), or in JSON is found."""
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    assert found_in(f"x {secret} y", secret)
    assert found_in(base64.b64encode(pickle.dumps({"s": secret})).decode(), secret)
    assert not found_in(base64.b64encode(pickle.dumps({"s": "other"})).decode(), secret)


def test_secret_access_key_never_leaves_secrets_manager(
    stack: Stack, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = stack.driver
    assert driver is not None
    made = capture_new_secrets(monkeypatch)
    caplog.set_level(logging.DEBUG)
    for name in ("dbos", "botocore", "boto3", "urllib3", "slack_sdk", "slack_bolt"):
        caplog.set_level(logging.DEBUG, logger=name)
    dbos_logger = logging.getLogger("dbos")  # DBOS does not propagate to the root logger
    dbos_logger.addHandler(caplog.handler)
    FAILPOINTS.disarm_all()
    try:
        # alice: a crash right after the key was made, recovery, then the whole grace period
        hit = FAILPOINTS.arm("after_create_key")
        (old,) = keys_of(stack, "alice")
        created = iam(stack).list_access_keys(UserName="alice")["AccessKeyMetadata"][0]["CreateDate"]
        open_preview(stack, "alice")
        driver.submit_view("alice", {})
        crash_and_restart(stack, hit)
        # svc-deploy: approved by its owner, rolled back
        open_preview(stack, "bob", "svc-deploy")
        driver.submit_view("bob", {"Reason": "Quarterly rotation"})
        stack.wait_idle()
        driver.click("erin", "Approve")
        stack.wait_idle()
        backdate_access_key(old, created, last_used=stack.clock.now())  # postpones alice's deactivation once
        sweep_after(stack, days=1, minutes=1)
        driver.click("erin", "Reactivate old key")
        stack.wait_idle()
        sweep_after(stack, days=1, minutes=1)
        sweep_after(stack, days=7)  # deleted; and the daily scan ran
        assert keys_of(stack, "alice") == {stored_secret(stack, "engops/iam/alice")["AccessKeyId"]: "Active"}
    finally:
        dbos_logger.removeHandler(caplog.handler)
        FAILPOINTS.disarm_all()

    assert len(made) == 3  # the interrupted attempt's key, alice's and svc-deploy's
    stored = {stored_secret(stack, n)["SecretAccessKey"] for n in ("engops/iam/alice", "engops/iam/svc-deploy")}
    assert stored <= set(made)  # the spy saw the real secrets

    assert stack.web is not None
    db = stack.web.services.db
    places = {
        "slack": standin_traffic(stack.slack),
        "gitlab": standin_traffic(stack.gitlab),
        "okta": standin_traffic(stack.okta),
        "google": standin_traffic(stack.google),
        "logs": "\n".join([caplog.text, *(r.getMessage() for r in caplog.records)]),
        "database": database_dump(stack),
        "audit jsonl": "".join(audit.export(db, "jsonl")),
        "audit csv": "".join(audit.export(db, "csv")),
    }
    # the places are really searched: each holds what the rotations did write there
    assert "engops/iam/alice" in places["slack"] and "aws_keys.rotated" in places["audit jsonl"]
    assert "engops/iam/svc-deploy" in places["database"] and "execute_key_rotation" in places["database"]
    assert caplog.records and "botocore" in places["logs"]
    for where, text in places.items():
        for secret in made:
            assert not found_in(text, secret), f"a secret access key is in the {where}"
