"""`/rotate-keys` for your own keys rotates exactly your IAM user, or refuses (SPEC §5 Identity).

The demo directory's AWS is messy on purpose: a Slack guest alice@contractor.io shares employee
alice's local part, the IAM user "sam" is tagged email=rosa@example.com, uma has two untagged IAM
users named like her, and the service user svc-deploy is tagged with its owner erin's email.
"""

from __future__ import annotations

from engops.sandbox.stack import Stack
from tests.support.aws_keys import iam, keys_of
from tests.support.slack_actions import open_preview, rotate


def test_a_guest_from_another_domain_is_not_the_employee_with_the_same_local_part(stack: Stack) -> None:
    before = keys_of(stack, "alice")
    shown = open_preview(stack, "alice.c")  # alice@contractor.io
    assert "No IAM user is tagged email=alice@contractor.io (outside example.com only that tag counts)" in shown
    assert "alice " not in shown.replace("alice@contractor.io", "")
    assert stack.driver is not None
    view = stack.driver.current_view("alice.c")
    assert view is not None and not view.body.get("submit")
    assert keys_of(stack, "alice") == before


def test_an_iam_user_named_like_you_but_tagged_to_someone_else_is_not_yours(stack: Stack) -> None:
    before = keys_of(stack, "sam")
    shown = open_preview(stack, "sam")
    assert "IAM user sam is tagged email=rosa@example.com, so it is not sam@example.com's" in shown
    assert keys_of(stack, "sam") == before
    # rosa, whose tag it carries, rotates it
    rotate(stack, "rosa")
    assert len(keys_of(stack, "sam")) == 2


def test_a_service_user_tagged_with_your_email_is_never_your_own(stack: Stack) -> None:
    # svc-deploy carries email=erin@example.com (its owner's); erin's own keys are those of IAM user erin
    shown = open_preview(stack, "erin")
    assert "svc-deploy" not in shown and "erin" in shown
    service_keys = keys_of(stack, "svc-deploy")
    rotate(stack, "erin")
    assert len(keys_of(stack, "erin")) == 2
    assert keys_of(stack, "svc-deploy") == service_keys


def test_only_a_service_user_tagged_with_you_is_refused_as_a_service_user(stack: Stack) -> None:
    # finding 5: a service user tagged with the caller was "their own" keys, rotated with no approval
    iam(stack).tag_user(UserName="svc-deploy", Tags=[{"Key": "email", "Value": "carol@example.com"}])
    assert stack.web is not None
    stack.web.services.runtime.aws._tag_index = None  # type: ignore[union-attr]  # seen now, not in a minute
    before = keys_of(stack, "svc-deploy")
    shown = open_preview(stack, "carol")
    assert "IAM user svc-deploy is a service user (aws_keys.service_users), never carol@example.com's own" in shown
    assert stack.driver is not None
    view = stack.driver.current_view("carol")
    assert view is not None and not view.body.get("submit")
    assert keys_of(stack, "svc-deploy") == before


def test_two_iam_users_named_like_you_are_refused_naming_both(stack: Stack) -> None:
    shown = open_preview(stack, "uma")
    assert "AWS: uma@example.com matches more than one account (uma@example.com and uma)" in shown
    assert keys_of(stack, "uma") and len(keys_of(stack, "uma")) == 1
