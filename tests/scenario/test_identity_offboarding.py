"""Offboarding acts on exactly the person meant, or refuses (SPEC §5 Identity, §6.3 protected people).

Driven as Slack does against the demo directory, whose stand-ins are as messy as real directories:
mona's Google account carries the alias old-bob@, rosa's Okta login is not her email and her IAM
user is "sam" (tagged to her), uma has two untagged IAM users named like her, sam is a Google super
admin, tara an Okta super admin, heidi and grace are it-admins (policy `offboarding.protected`),
and Slack has a guest alice@contractor.io.
"""

from __future__ import annotations

import pytest
from sqlmodel import select

from bot.db.models import Request
from engops.sandbox.google import DEFAULT_ADMIN_SUBJECT
from engops.sandbox.okta import API_USER_LOGIN
from engops.sandbox.stack import Stack
from tests.support.aws_keys import key_statuses
from tests.support.slack import progress_text, reply_to
from tests.support.slack_actions import mention, offboard, preview
from workflows.engine.kinds import PlanError
from workflows.offboarding import outcomes, steps
from workflows.offboarding.flow import OffboardingKind


def has_submit(stack: Stack, user: str) -> bool:
    assert stack.driver is not None
    view = stack.driver.current_view(user)
    return view is not None and bool(view.body.get("submit"))


def last_request(stack: Stack) -> Request:
    assert stack.web is not None
    with stack.web.services.db.session() as session:
        found = session.exec(select(Request).order_by(Request.id.desc())).first()  # type: ignore[union-attr]
        assert found is not None
        return found


def plan_for(stack: Stack, *emails: str) -> list[str]:
    """The dry run a request gets before any approver sees it (the only gate of `engops offboard --file`)."""
    hank = stack.slack.user("hank")
    req = Request(
        kind="offboarding",
        requester_slack_id=hank.id,
        requester_email=hank.email,
        details={"subjects": list(emails)},
    )
    return OffboardingKind().plan(req)


# --- finding 1: a Google alias is not the person ---------------------------------------------------------------
def test_an_alias_of_another_account_is_refused_at_preview(stack: Stack) -> None:
    shown = preview(stack, "hank", "old-bob@example.com")
    assert "Google: old-bob@example.com is only an alias of the account mona@example.com" in shown
    assert "Google: suspend" not in shown
    assert not has_submit(stack, "hank")  # nothing else is old-bob's: nobody to offboard
    assert not stack.google.is_suspended("mona@example.com")


def test_an_alias_that_reaches_a_run_is_refused_by_the_step(stack: Stack) -> None:
    stack.wait_idle()
    outcome = steps.run_step(steps.google_suspend, outcomes.PersonContext("old-bob@example.com"))
    assert outcome.status == "failed" and "only an alias of the account mona@example.com" in outcome.detail
    outcome = steps.run_step(steps.google_signout, outcomes.PersonContext("old-bob@example.com"))
    assert outcome.status == "failed"
    assert not stack.google.is_suspended("mona@example.com")
    assert stack.google.state()["signouts"] == {}


def test_alongside_someone_else_the_alias_is_left_out_and_only_they_are_offboarded(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    shown = offboard(stack, "hank", "bob@example.com old-bob@example.com")
    assert "(1 of 2 people)" in shown and "alias of the account mona@example.com" in shown
    assert last_request(stack).details["subjects"] == ["bob@example.com"]
    driver.click("heidi", "Approve")
    stack.wait_idle()
    assert stack.google.is_suspended("bob@example.com")
    assert not stack.google.is_suspended("mona@example.com")


# --- finding 2: the email domain, and IAM users matched by name --------------------------------------------------
@pytest.mark.parametrize("target", ["alice@example.com.evil.com", "alice@contractor.io"])
def test_slash_offboard_refuses_an_address_outside_the_domain_like_the_cli(stack: Stack, target: str) -> None:
    stack.wait_idle()
    answer = reply_to(stack, "hank", "/offboard", target, channel="#it-engops")
    assert f"{target} is not an address in example.com" in answer
    assert stack.driver is not None and stack.driver.current_view("hank") is None  # no preview opened
    assert key_statuses(stack, "alice") == ["Active"]


def test_a_guest_mentioned_in_slack_is_refused_at_preview_and_plan(stack: Stack) -> None:
    shown = preview(stack, "hank", mention(stack, "alice.c"))  # the guest alice@contractor.io
    assert "alice@contractor.io is not an address in example.com" in shown
    assert not has_submit(stack, "hank")
    with pytest.raises(PlanError, match="alice@example.com.evil.com is not an address in example.com"):
        plan_for(stack, "alice@example.com.evil.com")
    assert key_statuses(stack, "alice") == ["Active"]


# --- finding 6: protected people are refused at preview (and at plan, for the CLI) ------------------------------
@pytest.mark.parametrize(
    ("email", "why"),
    [
        ("heidi@example.com", "offboarding.protected: role:it-admins"),
        ("grace@example.com", "offboarding.protected: role:it-admins"),
        ("sam@example.com", "a Google super admin"),
        ("tara@example.com", "an Okta super admin"),
        (DEFAULT_ADMIN_SUBJECT, "the bot's own Google admin account (GOOGLE_ADMIN_SUBJECT)"),
        (API_USER_LOGIN, "the Okta user the bot's API token belongs to"),
    ],
)
def test_protected_people_are_refused_at_preview(stack: Stack, email: str, why: str) -> None:
    shown = preview(stack, "hank", email)
    assert f"Refused: {email} is protected ({why}" in shown
    assert not has_submit(stack, "hank")
    with pytest.raises(PlanError, match="is protected"):
        plan_for(stack, "alice@example.com", email)
    assert stack.google.user(email) is None or not stack.google.is_suspended(email)


def test_an_okta_org_admin_is_protected_too(stack: Stack) -> None:
    with stack.okta.lock:
        stack.okta.users[stack.okta.user_id("irene@example.com")].admin_roles.append("ORG_ADMIN")
    shown = preview(stack, "hank", "irene@example.com")
    assert "irene@example.com is protected (an Okta org admin" in shown and not has_submit(stack, "hank")


def test_protection_that_cannot_be_checked_refuses(stack: Stack) -> None:
    from engops.sandbox.base import Fault

    stack.wait_idle()
    stack.okta.inject(Fault(500, path_prefix="/api/v1/users/me", remaining=None))
    shown = preview(stack, "hank", "irene@example.com")
    assert "could not check whether irene@example.com is protected" in shown
    assert_refused_by_the_plan(stack, "irene@example.com")


def assert_refused_by_the_plan(stack: Stack, email: str) -> None:
    """Not known to be safe: the request is not refused for a blip, but no approver sees it until protection is
    read, and when it cannot be (after the bot waited the provider out) it fails, and nothing is done."""
    assert stack.driver is not None
    assert has_submit(stack, "hank")
    stack.driver.submit_view("hank", {"Reason": "Last day was Friday (HR-1234)"})
    stack.wait_idle()
    req = last_request(stack)
    assert req.status == "failed" and "could not check whether" in (req.error or ""), (req.status, req.error)
    assert stack.driver.latest("grace") is None and stack.driver.latest("heidi") is None  # no approver asked
    assert stack.okta.user_status(email) == "ACTIVE"
    assert stack.google.user(email) is None or not stack.google.is_suspended(email)


# --- §5: resolved identities shown and acted on ------------------------------------------------------------------
def test_the_preview_and_card_show_the_resolved_accounts_and_the_run_acts_on_them(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    # rosa: Okta login rdiaz@ (found by profile.email), IAM user "sam" (tagged email=rosa@)
    shown = offboard(stack, "hank", "rosa@example.com")
    resolved = "Resolved: Okta login rdiaz@example.com · Google rosa@example.com · IAM user sam"
    assert resolved in shown
    assert resolved in driver.dm_text("heidi")  # the approval card
    driver.click("heidi", "Approve")
    stack.wait_idle()
    assert stack.okta.user_status("rdiaz@example.com") == "SUSPENDED"
    assert stack.google.is_suspended("rosa@example.com")
    assert key_statuses(stack, "sam") == ["Inactive"]
    assert "Done" in progress_text(stack)


def test_two_iam_users_named_like_the_person_are_refused_naming_both(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    shown = offboard(stack, "hank", "uma@example.com")
    assert "AWS: uma@example.com matches more than one account (uma@example.com and uma)" in shown
    driver.click("heidi", "Approve")
    stack.wait_idle()
    assert stack.google.is_suspended("uma@example.com")  # the rest of her offboarding goes on
    assert key_statuses(stack, "uma") == ["Active"] and key_statuses(stack, "uma@example.com") == ["Active"]
    assert "Partly failed" in progress_text(stack)


def test_two_okta_users_with_the_email_are_refused_naming_both(stack: Stack) -> None:
    stack.okta.add_user("rosa.d@example.com", "Rosa", "Duplicate", email="rosa@example.com")
    shown = preview(stack, "hank", "rosa@example.com")
    assert "Okta: rosa@example.com matches more than one account (rdiaz@example.com and rosa.d@example.com)" in shown
    assert "Okta: suspend" not in shown


# --- attacker review: protection holds when a lookup fails, and again when the steps run -----------------------
def test_a_super_admin_whose_account_cannot_be_read_is_not_offboardable(stack: Stack) -> None:
    """Google does not answer for sam (a Google super admin): not known to be safe, so nobody may submit."""
    from engops.sandbox.base import Fault

    stack.wait_idle()
    stack.google.inject(Fault(503, path_prefix="/admin/directory/v1/users/sam", remaining=None))
    shown = preview(stack, "hank", "sam@example.com")
    assert "could not check whether sam@example.com is protected" in shown
    assert_refused_by_the_plan(stack, "sam@example.com")


def test_someone_protected_after_the_approval_is_not_offboarded_by_the_run(stack: Stack) -> None:
    assert stack.driver is not None
    offboard(stack, "hank", "irene@example.com")
    with stack.okta.lock:  # between the plan and the approval, irene becomes an Okta org admin
        stack.okta.users[stack.okta.user_id("irene@example.com")].admin_roles.append("ORG_ADMIN")
    stack.driver.click("grace", "Approve")
    stack.wait_idle()
    assert stack.okta.user_status("irene@example.com") == "ACTIVE"
    assert not stack.google.is_suspended("irene@example.com")
    assert key_statuses(stack, "irene") == ["Active"]
    assert "irene@example.com is protected (an Okta org admin" in progress_text(stack)
