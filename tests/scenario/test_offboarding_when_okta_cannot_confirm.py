"""The sequence a loop of the fault test found (#12): Okta keeps refusing while the offboarding checks that its
requester may offboard, so the request ends failed before it reaches an approver. The requester must be told,
with a Retry button, and Retry must then bring the card to the approver: never a request left waiting."""

from __future__ import annotations

from engops.sandbox.base import Fault
from engops.sandbox.stack import Stack
from tests.support.effects import request_status
from tests.support.slack_actions import mention, preview, submit
from tests.support.slack_output import find_card


def test_an_offboarding_okta_could_not_confirm_is_failed_told_and_retried(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    preview(stack, "hank", mention(stack, "alice"))
    # who may offboard is read live from the role's Okta group, which Okta refuses (429) again and again
    stack.okta.inject(Fault(status=429, kind="ratelimit", path_prefix="/api/v1/groups", remaining=None))
    submit(stack, "hank")
    stack.wait_idle()
    assert request_status(stack, 1) == "failed"
    told = driver.dm_text("hank")
    assert "Okta did not answer" in told and "Try again" in told
    assert find_card(stack, "heidi", 1, "Approve") is None
    assert not stack.google.is_suspended("alice@example.com")

    stack.okta.clear_faults()
    retry = find_card(stack, "hank", 1, "Retry failed steps")
    assert retry is not None
    assert driver.click("hank", "Retry failed steps", message=retry).status == 200
    stack.wait_idle()
    card = find_card(stack, "heidi", 1, "Approve")
    assert card is not None, "after Retry the approver is asked"
    assert driver.click("heidi", "Approve", message=card).status == 200
    stack.wait_idle()
    assert request_status(stack, 1) == "done"
    assert stack.google.is_suspended("alice@example.com")
