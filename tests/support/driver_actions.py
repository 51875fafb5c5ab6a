"""What people do in Slack, as the reliability tests need it: each action drives the app through a
`SlackDriver` exactly as a person would (command, modal, button) and returns the request's number.

The waits are for the app's asynchronous answers (a preview modal filled in by a workflow, a card
that reaches an approver's DM); a worker that was just killed answers once it is back.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

from engops.sandbox.slack import Message, SlackStandIn, message_as_text
from engops.sandbox.slack_driver import SlackDriver

T = TypeVar("T")
_REF = re.compile(r"REQ-(\d+)")
ESCALATION_ACK = "I'm on it"
IT_SUMMARIES = (  # one per requester; spread over the teams by their keywords
    "Terraform plan fails on the {n} VPC module",
    "Need an S3 bucket for the {n} marketing assets",
    "Okta SSO broken for the {n} sandbox account",
    "NetSuite sync to Salesforce stuck on batch {n}",
    "Laptop {n} will not enroll in Google Workspace",
)


def wait_for(predicate: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


def _submitted_ref(driver: SlackDriver, user: str, values: dict[str, Any]) -> int:
    resp = driver.submit_view(user, values)
    assert resp.status == 200, resp.text
    view = driver.current_view(user)
    assert view is not None, f"{user}'s modal closed without an answer"
    found = _REF.search(message_as_text("", view.blocks))
    assert found, f"{user} was not told a request number: {message_as_text('', view.blocks)[:300]}"
    driver.close_view(user)
    return int(found.group(1))


def _open(driver: SlackDriver, user: str, command: str, text: str, channel: str) -> None:
    resp = driver.command(user, command, text, channel=channel)
    assert resp.status == 200 and not resp.body.strip(), f"{command} answered {resp.status}: {resp.text[:300]}"


def _filled_preview(driver: SlackDriver, user: str, timeout: float) -> None:
    """Until the preview modal a workflow fills in has its submit button."""
    wait_for(
        lambda: (view := driver.current_view(user)) is not None and bool(view.body.get("submit")),
        timeout,
        f"{user}'s preview to be filled in",
    )


def ask_access(driver: SlackDriver, user: str, group: str, reason: str, duration: str | None = None) -> int:
    _open(driver, user, "/access", "", "#general")
    values = {"Okta group": group, "Justification": reason}
    if duration:
        values["Duration"] = duration
    return _submitted_ref(driver, user, values)


def file_it_request(driver: SlackDriver, user: str, summary: str, details: str, channel: str = "#general") -> int:
    _open(driver, user, "/it", summary, channel)
    return _submitted_ref(driver, user, {"Details": details})


def escalate(driver: SlackDriver, user: str, text: str, details: str, channel: str = "#it-engops") -> int:
    _open(driver, user, "/escalate", text, channel)
    return _submitted_ref(driver, user, {"Details": details})


def rotate_own_keys(driver: SlackDriver, user: str, timeout: float) -> int:
    _open(driver, user, "/rotate-keys", "", "#general")
    _filled_preview(driver, user, timeout)
    return _submitted_ref(driver, user, {})


def offboard(driver: SlackDriver, user: str, email: str, reason: str, timeout: float) -> int:
    _open(driver, user, "/offboard", email, "#it-engops")
    _filled_preview(driver, user, timeout)
    return _submitted_ref(driver, user, {"Reason": reason})


def card_for(slack: SlackStandIn, person: str, ref: int, label: str) -> Message | None:
    """The newest message in the person's DM about REQ-<ref> that has the button `label`."""
    for message in reversed(slack.dm(person)):
        text = message_as_text(message.text, message.blocks)
        if re.search(rf"\bREQ-{ref}\b", text) and label in SlackDriver.labels(message):
            return message
    return None


def decide(driver: SlackDriver, approver: str, ref: int, *, approve: bool, timeout: float, reason: str = "") -> None:
    """Approve, or Deny with a reason, on the card in the approver's DM (once it has arrived)."""
    label = "Approve" if approve else "Deny"
    card = wait_for(lambda: card_for(driver.slack, approver, ref, label), timeout, f"REQ-{ref}'s card for {approver}")
    resp = driver.click(approver, label, message=card)
    assert resp.status == 200, resp.text
    if not approve:
        wait_for(
            lambda: (view := driver.current_view(approver)) is not None and view.callback_id == "deny_reason",
            timeout,
            f"the deny-reason modal of REQ-{ref}",
        )
        assert driver.submit_view(approver, {"Reason": reason}).status == 200


def acknowledge_any(driver: SlackDriver, dris: tuple[str, ...], ref: int, timeout: float) -> None:
    """**I'm on it**, clicked by the first of `dris` the escalation was paged to."""

    def paged() -> tuple[str, Message] | None:
        for dri in dris:
            card = card_for(driver.slack, dri, ref, ESCALATION_ACK)
            if card is not None:
                return dri, card
        return None

    dri, card = wait_for(paged, timeout, f"REQ-{ref}'s page to a DRI")
    assert driver.click(dri, ESCALATION_ACK, message=card).status == 200
