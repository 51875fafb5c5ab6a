"""A request reaches its approvers, or ends failed with the requester told — whatever a provider does while it is
being prepared. Each fault is injected at the one call where it once lost a request (issue #12), not at random.

The sequence that failed the fault suite: the plan's Okta `get_user` met three faults in a row (the last a 429), the
adapter's own quick retries were used up within a second, and the request was failed on the spot; the card never
reached its approver.
"""

from __future__ import annotations

from sqlmodel import select

from bot.db.models import Request
from engops.sandbox.base import Fault
from engops.sandbox.stack import Stack
from tests.support.slack_output import find_card

ALICE_IN_OKTA = "/api/v1/users/alice"  # the plan's look-up of the requester (by login, or by profile email)
PLAN_TRIES = 3  # the test stack's Okta adapter tries a call this often before it gives up (fast_retries)


def request_access(stack: Stack, user: str, group: str, reason: str, duration: str = "") -> None:
    """Submit the access modal; the bot answers with the request's number at once, the rest happens later."""
    assert stack.driver is not None
    stack.driver.command(user, "/access", "")
    values = {"Okta group": group, "Justification": reason} | ({"Duration": duration} if duration else {})
    resp = stack.driver.submit_view(user, values)
    assert resp.status == 200, resp.text


def status_of(stack: Stack, ref: int) -> str:
    assert stack.web is not None
    with stack.web.services.db.session() as session:
        req = session.exec(select(Request).where(Request.id == ref)).one()
        return req.status


def wait_out(stack: Stack) -> None:
    """Until the bot has done all it will do: at least as long as it waits out a silent provider."""
    stack.wait_idle(timeout=max(90.0, stack.patience.total * 3))


def okta_faults_met(stack: Stack) -> int:
    with stack.okta.lock:
        return sum(1 for c in stack.okta.calls if c.path.startswith(ALICE_IN_OKTA) and c.status in (429, 503, 504))


def test_a_plan_whose_provider_blips_is_made_again_and_reaches_the_approver(stack: Stack) -> None:
    assert stack.driver is not None
    stack.wait_idle()
    # enough faults in a row to use up the adapter's retries once: a 503, a timeout, a 429
    stack.okta.inject(Fault(status=503, path_prefix=ALICE_IN_OKTA, method="GET", remaining=1))
    stack.okta.inject(Fault(status=250, kind="timeout", path_prefix=ALICE_IN_OKTA, method="GET", remaining=1))
    stack.okta.inject(Fault(status=429, kind="ratelimit", path_prefix=ALICE_IN_OKTA, method="GET", remaining=1))
    request_access(stack, "alice", "netsuite-finance", "Quarter close")
    wait_out(stack)

    assert okta_faults_met(stack) == PLAN_TRIES
    assert status_of(stack, 1) == "pending"
    card = stack.driver.latest("oscar")
    assert card is not None and "Approve" in stack.driver.labels(card), "the owner never got the card"
    stack.driver.click("oscar", "Approve", message=card)
    stack.wait_idle()
    assert "alice@example.com" in stack.okta.members("netsuite-finance")


def test_a_provider_silent_for_longer_than_the_bot_waits_fails_the_request_and_says_so(stack: Stack) -> None:
    assert stack.driver is not None
    stack.wait_idle()
    stack.okta.inject(Fault(status=503, path_prefix=ALICE_IN_OKTA, method="GET", remaining=None))
    request_access(stack, "alice", "netsuite-finance", "Quarter close")
    wait_out(stack)

    assert status_of(stack, 1) == "failed"
    assert okta_faults_met(stack) == PLAN_TRIES * (1 + len(stack.patience.pauses))  # asked again after each pause
    told = stack.driver.dm_text("alice")
    assert "REQ-1 cannot be done: Okta did not answer" in told
    assert stack.driver.latest("oscar") is None
    card = find_card(stack, "alice", 1, "Retry failed steps")
    assert card is not None, "the requester's card offers no Retry"

    stack.okta.clear_faults()
    stack.driver.click("alice", "Retry failed steps", message=card)
    wait_out(stack)
    assert status_of(stack, 1) == "pending"
    assert stack.driver.latest("oscar") is not None


def test_approvers_that_cannot_be_looked_up_fail_the_request_instead_of_leaving_it_submitted(stack: Stack) -> None:
    """Slack cannot say who mona (alice's manager, the first approver of aws-sandbox-admins, not in the bot's
    cache) is: the step that resolves approvers gives up after its retries, and the request must end failed and
    told, not stay `submitted` behind a workflow that crashed."""
    assert stack.driver is not None
    stack.wait_idle()  # the start-up sweep has cached the role holders, DRIs and owners
    stack.slack.inject(Fault(status=500, path_prefix="/api/users.lookupByEmail", remaining=None))
    request_access(stack, "alice", "aws-sandbox-admins", "Debugging the staging incident", duration="4h")
    wait_out(stack)

    assert status_of(stack, 1) == "failed"
    assert "REQ-1 cannot be done: the people it involves could not be looked up" in stack.driver.dm_text("alice")
