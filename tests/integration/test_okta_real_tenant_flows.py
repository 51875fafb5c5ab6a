"""Okta people as a real tenant has them, driven through Slack as a user would: a login that is not the
email (rosa is `rdiaz@example.com` in Okta), and a person Okta does not know at all."""

from __future__ import annotations

from engops.sandbox.stack import Stack
from tests.support.slack import progress_message, progress_text
from tests.support.slack_actions import offboard, request_access


def test_access_for_a_person_whose_okta_login_is_not_their_email(stack: Stack) -> None:
    request_access(stack, "rosa", "zoom-users", None, "Customer calls")  # auto-approved group
    assert "rdiaz@example.com" in stack.okta.members("zoom-users")
    lookups = [c.path for c in stack.okta.calls if c.method == "GET" and c.path.startswith("/api/v1/users")]
    assert "/api/v1/users/rosa@example.com" in lookups and "/api/v1/users" in lookups  # login, then profile.email


def test_offboarding_someone_okta_does_not_know_needs_attention(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    with stack.okta.lock:
        del stack.okta.users[stack.okta.user_id("nina@example.com")]
    offboard(stack, "grace", "nina@example.com")
    driver.click("heidi", "Approve")
    stack.wait_idle()
    assert stack.google.is_suspended("nina@example.com")
    text = progress_text(stack)
    assert "Partly failed" in text
    assert "no user has the login or profile.email nina@example.com" in text
    assert "Retry failed steps" in driver.labels(progress_message(stack))
