"""SPEC §6.1 at click time: one person passes at most one step; a request is checked again when clicked (not
expired, still pending, the clicker still an approver, resolved live); roles are known from the first request
after start; confidential requests are not for every help-desk member; a service user always needs its owners."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete
from sqlmodel import select

from bot.db.models import ApprovalStep, Person, Request, RoleMember
from bot.slack.offboarding_views import PREVIEW_CALLBACK as OFFBOARD_PREVIEW
from engops.sandbox.slack import message_as_text
from engops.sandbox.stack import Stack
from tests.support.authorisation import mark, tampered, told_since
from tests.support.aws_keys import keys_of
from tests.support.directory import set_manager
from tests.support.slack import reply_to
from tests.support.slack_actions import file_request, open_preview, preview, request_access, submit
from tests.support.slack_output import find_card


def approve_in_channel(stack: Stack, who: str, ref: int, channel: str = "#it-engops") -> str:
    """Click Approve on the channel copy of the card; what the clicker was told."""
    assert stack.driver is not None
    card = find_card(stack, channel, ref, "Approve")
    assert card is not None, f"no Approve on REQ-{ref} in {channel}"
    since = mark(stack, who)
    assert stack.driver.click(who, "Approve", message=card).status == 200
    stack.wait_idle()
    return told_since(stack, who, since)


def steps_of(stack: Stack, ref: int) -> list[tuple[str, str, list[str]]]:
    assert stack.web is not None
    with stack.web.services.db.session() as session:
        rows = session.exec(select(ApprovalStep).where(ApprovalStep.request_id == ref))
        return [(s.spec, s.status, list(s.approver_emails)) for s in sorted(rows, key=lambda s: s.position)]


def test_one_person_passes_one_step_even_as_manager_and_owner(stack: Stack) -> None:
    set_manager(stack, "alice", "erin")  # erin: alice's manager and the owner of aws-sandbox-admins
    request_access(stack, "alice", "aws-sandbox-admins", "4h", "Incident", channel="#it-engops")
    assert "Approved" not in approve_in_channel(stack, "erin", 1)
    said = approve_in_channel(stack, "erin", 1)
    assert "You already approved REQ-1 at" in said
    assert "alice@example.com" not in stack.okta.members("aws-sandbox-admins")
    (_, first, _), (spec, second, approvers) = steps_of(stack, 1)
    assert (first, second) == ("approved", "pending")
    assert "erin@example.com" not in approvers and spec == "owners → it-admins"  # nobody left: IT admins
    approve_in_channel(stack, "heidi", 1)
    assert "alice@example.com" in stack.okta.members("aws-sandbox-admins")


def test_a_double_click_says_already_approved_by_you(stack: Stack) -> None:
    request_access(stack, "alice", "aws-sandbox-admins", "4h", "Incident", channel="#it-engops")
    approve_in_channel(stack, "mona", 1)
    said = approve_in_channel(stack, "mona", 1)
    assert "You already approved REQ-1 at" in said and "not an approver" not in said
    assert [s[1] for s in steps_of(stack, 1)] == ["approved", "pending"]


def test_an_expired_request_not_swept_yet_cannot_be_approved(stack: Stack) -> None:
    request_access(stack, "alice", "aws-sandbox-admins", "4h", "Incident", channel="#it-engops")
    stack.advance(days=7, minutes=1)  # expire_after: 7d; the sweep has not run
    said = approve_in_channel(stack, "mona", 1)
    assert "expired" in said and "nothing changed" in said
    assert [s[1] for s in steps_of(stack, 1)] == ["pending", "waiting"]


def test_a_changed_manager_no_longer_approves(stack: Stack) -> None:
    request_access(stack, "alice", "aws-sandbox-admins", "4h", "Incident", channel="#it-engops")
    set_manager(stack, "alice", "victor")  # Okta says her manager is victor now
    said = approve_in_channel(stack, "mona", 1)
    assert "not an approver" in said and "victor@example.com" in said
    assert [s[1] for s in steps_of(stack, 1)] == ["pending", "waiting"]
    assert "Approved" not in approve_in_channel(stack, "victor", 1)  # the manager Okta names now counts
    assert [s[1] for s in steps_of(stack, 1)] == ["approved", "pending"]
    assert "alice@example.com" not in stack.okta.members("aws-sandbox-admins")


def forget_everyone(stack: Stack) -> None:
    """Empty the role and person caches, as right after a first start before the sweep filled them."""
    assert stack.web is not None
    with stack.web.services.db.session() as session:
        session.execute(delete(RoleMember))
        session.execute(delete(Person))


def test_a_cold_role_cache_does_not_turn_a_role_holder_away(stack: Stack) -> None:
    """hank is in the help desk's Okta group; the role cache has not been filled (as right after start)."""
    assert stack.web is not None and stack.driver is not None
    stack.wait_idle()
    forget_everyone(stack)
    text = preview(stack, "hank", "irene@example.com")
    view = stack.driver.current_view("hank")
    assert view is not None and view.callback_id == OFFBOARD_PREVIEW and "irene@example.com" in text
    submit(stack, "hank")
    with stack.web.services.db.session() as session:
        req = session.get(Request, 1)
        assert req is not None and req.status == "pending" and req.kind == "offboarding"


def test_a_cold_role_cache_still_refuses_who_holds_no_role(stack: Stack) -> None:
    assert stack.web is not None and stack.driver is not None
    stack.wait_idle()
    forget_everyone(stack)
    stack.driver.command("carol", "/offboard", "irene@example.com", channel="#it-engops")
    stack.wait_idle()  # the cache could not say no: the preview, reading the role live, does
    view = stack.driver.current_view("carol")
    assert view is not None
    assert "Only `role:helpdesk`, `role:it-admins` can offboard" in message_as_text("", view.blocks)
    with stack.web.services.db.session() as session:
        assert session.exec(select(Request)).first() is None


def test_a_word_meant_as_a_duration_must_be_one(stack: Stack) -> None:
    said = reply_to(stack, "alice", "/access", "aws-sandbox-admins 3x fix the staging database")
    assert "`3x` is not a duration" in said


def test_a_confidential_request_is_not_for_every_help_desk_member(stack: Stack) -> None:
    file_request(stack, "alice", {"Summary": "I clicked a phishing link and typed my password"})
    assert stack.web is not None
    with stack.web.services.db.session() as session:
        req = session.get(Request, 1)
        assert req is not None and req.details.get("confidential")
        team = str(req.details["team"])
    dri = stack.web.services.policy.teams[team].dris[0].split("@")[0]
    assert "does not exist or is not one of yours" in reply_to(stack, "hank", "/engops", "status REQ-1")
    assert "does not exist or is not one of yours" in reply_to(stack, "carol", "/engops", "status REQ-1")
    for allowed in ("alice", "heidi", dri):
        assert "REQ-1" in reply_to(stack, allowed, "/engops", "status REQ-1")
        assert "not one of yours" not in reply_to(stack, allowed, "/engops", "status REQ-1")


def test_a_service_user_always_waits_for_its_owners(stack: Stack) -> None:
    """Whatever the preview said (here: a submit forged to say "your own keys"), svc-deploy needs an owner."""
    assert stack.driver is not None
    driver = stack.driver
    before = keys_of(stack, "svc-deploy")
    open_preview(stack, "alice")

    def as_service_user(payload: dict[str, Any]) -> None:
        meta = json.loads(payload["view"]["private_metadata"])
        payload["view"]["private_metadata"] = json.dumps({**meta, "iam_user": "svc-deploy", "service": False})

    tampered(driver, lambda: driver.submit_view("alice", {}), as_service_user)
    stack.wait_idle()
    assert keys_of(stack, "svc-deploy") == before
    (spec, status, approvers) = steps_of(stack, 1)[0]
    assert (spec, status) == ("owners", "pending") and approvers == ["erin@example.com"]


def test_a_duration_of_spaces_is_no_duration(stack: Stack) -> None:
    """SPEC §5: whitespace is empty, which means no end date: refused where the group requires a duration."""
    assert stack.driver is not None
    stack.driver.command("alice", "/access", "")
    stack.driver.submit_view("alice", {"Okta group": "aws-sandbox-admins", "Duration": "   ", "Justification": "x"})
    view = stack.driver.current_view("alice")
    assert view is not None and "aws-sandbox-admins needs a duration" in str(view.errors)
    stack.driver.close_view("alice")
    request_access(stack, "bob", "zoom-users", " \t ", "Customer calls")  # no end date where none is required
    assert "bob@example.com" in stack.okta.members("zoom-users")
