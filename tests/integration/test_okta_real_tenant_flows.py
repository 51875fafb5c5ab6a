"""Okta people as a real tenant has them, driven through Slack as a user would: a login that is not the
email (rosa is `rdiaz@example.com` in Okta), and a person Okta does not know at all."""

from __future__ import annotations

from engops.sandbox.stack import Stack
from tests.support.effects import request_status
from tests.support.slack import progress_message, progress_text
from tests.support.slack_actions import offboard, request_access
from tests.support.stacks import sweep_after


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


def test_a_grant_found_by_profile_email_ends_for_that_account_when_the_email_changes(stack: Stack) -> None:
    """The account a grant added is the one its expiry removes: rosa (found by profile.email) changes her email in
    Okta meanwhile; the bot still removes rdiaz@ from the group, not nobody (which ended the grant and left her in)."""
    request_access(stack, "rosa", "zoom-users", "2h", "Customer calls")
    assert "rdiaz@example.com" in stack.okta.members("zoom-users")
    with stack.okta.lock:
        stack.okta.users[stack.okta.user_id("rdiaz@example.com")].email = "rosa.diaz@example.org"
    sweep_after(stack, hours=2, minutes=1)
    assert "rdiaz@example.com" not in stack.okta.members("zoom-users")
    assert request_status(stack, 1) == "ended"
