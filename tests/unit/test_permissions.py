"""bot.permissions as a table: actor × action × request state -> allowed, or the refusal and its words."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot import permissions as p
from bot.permissions import Actor, RequestFacts, RotationFacts, StepFacts, Why

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
EARLIER = NOW - timedelta(minutes=20)


def person(handle: str, *roles: str, **kw: object) -> Actor:
    return Actor(slack_id=f"U-{handle}", email=f"{handle}@example.com", roles=frozenset(roles), **kw)  # type: ignore[arg-type]


ALICE = person("alice")  # the requester
MONA = person("mona")  # alice's manager
ERIN = person("erin")  # owner of the group (and, in one state, alice's manager too)
HANK = person("hank", "helpdesk")
HEIDI = person("heidi", "it-admins")
CAROL = person("carol")  # unrelated
FRANK = person("frank")  # a DRI of the team (confidential requests)
LEO = person("leo")  # owner of the service user
ACTORS = {"requester": ALICE, "manager": MONA, "owner": ERIN, "help desk": HANK, "IT admin": HEIDI, "other": CAROL}


def step(position: int, spec: str, status: str, *approvers: str, by: Actor | None = None) -> StepFacts:
    return StepFacts(
        position,
        spec,
        status,
        tuple(f"{a}@example.com" for a in approvers),
        tuple(f"U-{a}" for a in approvers),
        by.email if by else None,
        by.slack_id if by else None,
        EARLIER if by else None,
    )


PENDING = RequestFacts(
    ref="REQ-1",
    kind="access",
    status="pending",
    requester_email="alice@example.com",
    requester_slack_id="U-alice",
    steps=(step(0, "manager", "pending", "mona"), step(1, "owners", "waiting", "erin")),
    expires_at=NOW + timedelta(days=7),
    owners=("erin@example.com",),
)
SECOND_STEP = replace(
    PENDING, steps=(step(0, "manager", "approved", "mona", by=MONA), step(1, "owners", "pending", "erin"))
)
# erin is alice's manager and the group's owner: she passed the first step, the second is hers no more
ERIN_PASSED_FIRST = replace(
    PENDING, steps=(step(0, "manager", "approved", "erin", by=ERIN), step(1, "owners", "pending", "erin"))
)
APPROVED = replace(PENDING, status="approved", decided_by_email="erin@example.com", decided_at=EARLIER)
DENIED = replace(PENDING, status="denied", decided_by_email="mona@example.com", decided_at=EARLIER)
EXPIRED_UNSWEPT = replace(PENDING, expires_at=NOW - timedelta(minutes=1))
EXPIRED = replace(PENDING, status="expired")
SUBMITTED = replace(PENDING, status="submitted", steps=())

DECIDE: list[tuple[str, RequestFacts, Actor, Why]] = [
    ("first step", PENDING, MONA, Why.ALLOWED),
    ("first step", PENDING, ALICE, Why.OWN_REQUEST),
    ("first step", PENDING, ERIN, Why.NOT_APPROVER),
    ("first step", PENDING, HANK, Why.NOT_APPROVER),
    ("first step", PENDING, HEIDI, Why.NOT_APPROVER),
    ("first step", PENDING, CAROL, Why.NOT_APPROVER),
    ("second step", SECOND_STEP, ERIN, Why.ALLOWED),
    ("second step", SECOND_STEP, MONA, Why.ALREADY_DECIDED),  # a double click
    ("second step", SECOND_STEP, ALICE, Why.OWN_REQUEST),
    ("second step", SECOND_STEP, CAROL, Why.NOT_APPROVER),
    ("second step after erin passed the first", ERIN_PASSED_FIRST, ERIN, Why.ALREADY_DECIDED),
    ("approved", APPROVED, ERIN, Why.ALREADY_DECIDED),
    ("approved", APPROVED, MONA, Why.NOT_PENDING),
    ("denied", DENIED, ERIN, Why.NOT_PENDING),
    ("expired, not swept yet", EXPIRED_UNSWEPT, MONA, Why.EXPIRED),
    ("expired", EXPIRED, MONA, Why.EXPIRED),
    ("still being prepared", SUBMITTED, MONA, Why.NOT_PENDING),
    # Slack sessions outlive an offboarding: an offboarded manager no longer approves
    ("first step, manager offboarded", PENDING, replace(MONA, offboarding="done"), Why.OFFBOARDED),
    ("first step, manager being offboarded", PENDING, replace(MONA, offboarding="pending"), Why.OFFBOARDED),
]


@pytest.mark.parametrize(("state", "req", "actor", "expected"), DECIDE, ids=[f"{c[0]}-{c[2].email}" for c in DECIDE])
def test_approve_or_deny(state: str, req: RequestFacts, actor: Actor, expected: Why) -> None:
    verdict = p.decide(actor, req, NOW)
    assert verdict.why is expected, verdict.message
    assert verdict.ok == (expected is Why.ALLOWED)
    if not verdict.ok:
        assert "REQ-1" in verdict.message


def test_the_words_of_a_double_click_and_of_a_second_step() -> None:
    assert p.decide(MONA, SECOND_STEP, NOW).message.startswith("You already approved REQ-1 at 09:40 UTC")
    assert "needs someone else" in p.decide(ERIN, ERIN_PASSED_FIRST, NOW).message
    assert p.decide(ERIN, APPROVED, NOW).message.startswith("You already approved REQ-1 at 09:40 UTC")
    assert "already approved by erin@example.com at 09:40 UTC" in p.decide(MONA, APPROVED, NOW).message


def test_live_approvers_decide_over_the_stored_ones() -> None:
    """A changed manager or a removed role holder no longer counts (SPEC §6.1)."""
    assert p.decide(MONA, PENDING, NOW, approvers=["victor@example.com"]).why is Why.NOT_APPROVER
    assert p.decide(CAROL, PENDING, NOW, approvers=["carol@example.com"]).ok


def test_the_subject_of_a_request_is_not_its_approver() -> None:
    on_behalf = replace(PENDING, requester_email="hank@example.com", requester_slack_id="U-hank",
                        subjects=frozenset({"mona@example.com"}))  # fmt: skip
    assert p.decide(MONA, on_behalf, NOW).why is Why.OWN_REQUEST


STEP_APPROVERS = [
    (["mona@example.com"], set(), ["mona@example.com"], False),
    (["alice@example.com"], {"alice@example.com"}, ["grace@example.com", "heidi@example.com"], True),  # only owner
    (["erin@example.com"], {"erin@example.com"}, ["grace@example.com", "heidi@example.com"], True),  # passed a step
    ([], set(), ["grace@example.com", "heidi@example.com"], True),  # no manager on file
    (["grace@example.com"], {"grace@example.com"}, ["heidi@example.com"], True),  # an admin never approves own
]


@pytest.mark.parametrize(("resolved", "excluded", "expected", "fell_back"), STEP_APPROVERS)
def test_step_approvers(resolved: list[str], excluded: set[str], expected: list[str], fell_back: bool) -> None:
    admins = ["grace@example.com", "heidi@example.com"]
    assert p.step_approvers(resolved, excluded, admins) == (expected, fell_back)


def test_whoever_decided_a_step_is_left_out_of_the_later_ones() -> None:
    assert p.not_approvers(ERIN_PASSED_FIRST) == {"alice@example.com", "erin@example.com"}
    assert p.not_approvers(PENDING) == {"alice@example.com"}


def test_steps_resolved_again_at_click_time() -> None:
    assert p.resolved_live("manager") and p.resolved_live("role:it-admins") and p.resolved_live("owners → it-admins")
    assert not p.resolved_live("owners") and not p.resolved_live("oscar@example.com")


def test_card_buttons() -> None:
    assert p.may_see_card_buttons("approver", "U-mona", PENDING)
    assert not p.may_see_card_buttons("approver", "U-erin", PENDING)
    assert p.may_see_card_buttons("channel", None, PENDING)
    assert not p.may_see_card_buttons("requester", "U-alice", PENDING)
    assert not p.may_see_card_buttons("channel", None, APPROVED)


def test_waiting_on() -> None:
    assert p.waiting_on(MONA, PENDING) and not p.waiting_on(ERIN, PENDING) and p.waiting_on(ERIN, SECOND_STEP)
    assert not p.waiting_on(ERIN, ERIN_PASSED_FIRST)


# --- retry, revoke, undo ---------------------------------------------------------------------------------------------
FAILED = replace(PENDING, status="failed")
RETRY = [
    (ALICE, FAILED, Why.ALLOWED),
    (HEIDI, FAILED, Why.ALLOWED),
    (HEIDI, replace(PENDING, status="partly_failed"), Why.ALLOWED),
    (MONA, FAILED, Why.NOT_ALLOWED),
    (HANK, FAILED, Why.NOT_ALLOWED),
    (ERIN, FAILED, Why.NOT_ALLOWED),
    (CAROL, FAILED, Why.NOT_ALLOWED),
    (ALICE, APPROVED, Why.WRONG_STATE),
]


@pytest.mark.parametrize(("actor", "req", "expected"), RETRY)
def test_retry(actor: Actor, req: RequestFacts, expected: Why) -> None:
    assert p.retry(actor, req).why is expected


DONE = replace(PENDING, status="done")
REVOKE = [
    (ALICE, None, Why.ALLOWED),
    (ERIN, None, Why.ALLOWED),  # owner
    (HEIDI, None, Why.ALLOWED),
    (CAROL, "U-carol", Why.ALLOWED),  # the holder (on behalf of)
    (MONA, None, Why.NOT_ALLOWED),
    (HANK, None, Why.NOT_ALLOWED),
    (CAROL, None, Why.NOT_ALLOWED),
]


@pytest.mark.parametrize(("actor", "holder", "expected"), REVOKE)
def test_revoke_now(actor: Actor, holder: str | None, expected: Why) -> None:
    assert p.revoke_grant(actor, DONE, holder).why is expected


OFFBOARDING = replace(PENDING, kind="offboarding", status="done", steps=(), finished_at=NOW - timedelta(hours=2))
UNDO = [
    (HEIDI, OFFBOARDING, NOW, Why.ALLOWED),
    (HANK, OFFBOARDING, NOW, Why.NOT_ALLOWED),
    (ALICE, OFFBOARDING, NOW, Why.NOT_ALLOWED),
    (HEIDI, OFFBOARDING, NOW + timedelta(hours=23), Why.TOO_LATE),
    (HEIDI, replace(OFFBOARDING, status="running", finished_at=None), NOW, Why.WRONG_STATE),
    (HEIDI, replace(OFFBOARDING, status="undone"), NOW, Why.WRONG_STATE),
]


@pytest.mark.parametrize(("actor", "req", "now", "expected"), UNDO)
def test_undo_offboarding(actor: Actor, req: RequestFacts, now: datetime, expected: Why) -> None:
    assert p.undo_offboarding(actor, req, now).why is expected


# --- commands -------------------------------------------------------------------------------------------------------
ALLOWED_TO_OFFBOARD = ["role:helpdesk", "role:it-admins"]
OFFBOARD = [
    (HANK, Why.ALLOWED),
    (HEIDI, Why.ALLOWED),
    (CAROL, Why.NOT_ALLOWED),  # the cache is sure: no Okta-backed role in doubt
    (replace(CAROL, unconfirmed=frozenset({"helpdesk"})), Why.CHECK_LIVE),  # a cold cache: checked live
    (replace(CAROL, email=None), Why.NOT_ALLOWED),  # unknown to a fresh cache: no holder
    (replace(CAROL, email=None, unconfirmed=frozenset({"it-admins"})), Why.CHECK_LIVE),  # unknown to a cold one
]


@pytest.mark.parametrize(("actor", "expected"), OFFBOARD)
def test_offboard(actor: Actor, expected: Why) -> None:
    verdict = p.offboard(actor, ALLOWED_TO_OFFBOARD)
    assert verdict.why is expected
    assert verdict.check_live == (expected is Why.CHECK_LIVE)
    if expected is Why.NOT_ALLOWED:
        assert "Only `role:helpdesk`, `role:it-admins` can offboard" in verdict.message


ESCALATE = [
    (HANK, Why.ALLOWED),
    (HEIDI, Why.ALLOWED),
    (CAROL, Why.NOT_ALLOWED),
    (replace(CAROL, unconfirmed=frozenset({"helpdesk"})), Why.CHECK_LIVE),  # cold cache: "try again", not "no"
    (replace(CAROL, email=None), Why.NOT_ALLOWED),
]


@pytest.mark.parametrize(("actor", "expected"), ESCALATE)
def test_escalate(actor: Actor, expected: Why) -> None:
    verdict = p.escalate(actor)
    assert verdict.why is expected
    if expected is Why.CHECK_LIVE:
        assert "try again" in verdict.message and "Only" not in verdict.message


INTAKE = [
    (HANK, Why.ALLOWED),
    (HEIDI, Why.NOT_ALLOWED),  # IT admins escalate with the shortcut; an emoji is the help desk's
    (CAROL, Why.NOT_ALLOWED),
    (replace(CAROL, unconfirmed=frozenset({"helpdesk"})), Why.CHECK_LIVE),
    (replace(CAROL, email=None), Why.NOT_ALLOWED),
]


@pytest.mark.parametrize(("actor", "expected"), INTAKE)
def test_intake_by_emoji(actor: Actor, expected: Why) -> None:
    verdict = p.intake(actor)
    assert verdict.why is expected
    if expected is Why.NOT_ALLOWED:
        assert "Only the help desk" in verdict.message


@pytest.mark.parametrize(("actor", "expected"), [(FRANK, Why.ALLOWED), (HEIDI, Why.ALLOWED), (HANK, Why.NOT_ALLOWED)])
def test_im_on_it(actor: Actor, expected: Why) -> None:
    assert p.take_escalation(actor, "Operations", ["frank@example.com", "peggy@example.com"]).why is expected


@pytest.mark.parametrize(
    ("actor", "service", "expected"),
    [(ALICE, False, Why.ALLOWED), (LEO, True, Why.ALLOWED), (HEIDI, True, Why.ALLOWED),
     (ALICE, True, Why.NOT_ALLOWED)],
)  # fmt: skip
def test_delete_inactive_key(actor: Actor, service: bool, expected: Why) -> None:
    verdict = p.delete_inactive_key(actor, "svc-deploy", service=service, owners=["leo@example.com"])
    assert verdict.why is expected


def test_offboard_by_an_email_entry() -> None:
    assert p.offboard(CAROL, ["carol@example.com"]).ok


CUT_OFF = [
    (ALICE, Why.ALLOWED),
    (replace(ALICE, offboarding="pending"), Why.OFFBOARDED),
    (replace(ALICE, offboarding="done"), Why.OFFBOARDED),
    (replace(ALICE, suspended=True), Why.SUSPENDED),
    (replace(HEIDI, offboarding="done"), Why.OFFBOARDED),  # no role lifts it
]


@pytest.mark.parametrize(("actor", "expected"), CUT_OFF)
@pytest.mark.parametrize("action", [p.request_access, p.rotate_keys])
def test_nobody_cut_off_requests_access_or_rotates_keys(
    action: Callable[[Actor], p.Verdict], actor: Actor, expected: Why
) -> None:
    verdict = action(actor)
    assert verdict.why is expected
    if not verdict.ok:
        assert "so you cannot" in verdict.message


def test_on_behalf_of_is_for_the_help_desk() -> None:
    assert p.request_access(HANK, on_behalf=True).ok
    assert p.request_access(HEIDI, on_behalf=True).why is Why.NOT_ALLOWED
    assert p.request_access(CAROL, on_behalf=True).why is Why.NOT_ALLOWED
    assert p.request_access(replace(HANK, offboarding="done"), on_behalf=True).why is Why.OFFBOARDED


GRANTEE = [
    ("ACTIVE", None, Why.ALLOWED),
    ("LOCKED_OUT", None, Why.ALLOWED),
    ("SUSPENDED", None, Why.SUSPENDED),
    ("DEPROVISIONED", None, Why.SUSPENDED),
    (None, None, Why.NOT_FOUND),
    ("ACTIVE", "pending", Why.OFFBOARDED),
    ("ACTIVE", "done", Why.OFFBOARDED),
]


@pytest.mark.parametrize(("status", "offboarding", "expected"), GRANTEE)
def test_who_a_grant_may_be_for(status: str | None, offboarding: str | None, expected: Why) -> None:
    assert p.access_for("alice@example.com", okta_status=status, offboarding=offboarding).why is expected


def test_offboarding_state() -> None:
    assert p.offboarding_state([]) is None
    assert p.offboarding_state(["denied", "expired", "undone", "cancelled"]) is None
    assert p.offboarding_state(["pending"]) == "pending"
    assert p.offboarding_state(["submitted", "done"]) == "done"
    assert p.offboarding_state(["partly_failed"]) == "done"


# --- seeing a request -------------------------------------------------------------------------------------------------
CONFIDENTIAL = replace(PENDING, kind="it_request", steps=(), confidential=True, team_dris=("frank@example.com",))
VIEW = [
    (PENDING, ALICE, True),
    (PENDING, MONA, True),  # an approver
    (PENDING, ERIN, True),  # an approver of a later step
    (PENDING, HANK, True),
    (PENDING, HEIDI, True),
    (PENDING, CAROL, False),
    (PENDING, FRANK, False),
    (CONFIDENTIAL, ALICE, True),
    (CONFIDENTIAL, FRANK, True),  # the team's DRI
    (CONFIDENTIAL, HEIDI, True),
    (CONFIDENTIAL, HANK, False),  # the help desk does not read confidential requests
    (CONFIDENTIAL, CAROL, False),
    (replace(CONFIDENTIAL, subjects=frozenset({"carol@example.com"})), CAROL, True),  # it is about her
    # but a pending offboarding is not read by the person it offboards (request numbers are easy to guess)
    (replace(PENDING, kind="offboarding", steps=(), subjects=frozenset({"carol@example.com"})), CAROL, False),
]


@pytest.mark.parametrize(("req", "actor", "visible"), VIEW)
def test_engops_status(req: RequestFacts, actor: Actor, visible: bool) -> None:
    verdict = p.view_request(actor, req)
    assert verdict.ok == visible
    if not visible:
        assert verdict.message == "REQ-1 does not exist or is not one of yours."


# --- AWS keys ---------------------------------------------------------------------------------------------------------
def test_a_service_user_always_needs_its_owners() -> None:
    assert p.rotation_steps("svc-deploy", {"svc-deploy": object()}) == ["owners"]
    assert p.rotation_steps("alice", {"svc-deploy": object()}) == []


OWN = RotationFacts(
    ref="REQ-3",
    iam_user="alice",
    service_user=False,
    requester_slack_id="U-alice",
    requester_email="alice@example.com",
    status="grace",
    old_key_id="AKIAOLD",
)
SERVICE = replace(OWN, iam_user="svc-deploy", service_user=True, owners=("leo@example.com",))
REACTIVATE = [
    (OWN, ALICE, Why.ALLOWED),
    (OWN, HEIDI, Why.ALLOWED),
    (OWN, MONA, Why.NOT_ALLOWED),
    (OWN, HANK, Why.NOT_ALLOWED),
    (replace(OWN, status="deactivated"), ALICE, Why.ALLOWED),
    (replace(OWN, status="done"), ALICE, Why.TOO_LATE),
    (replace(OWN, status="rolled_back", rolled_back_by="alice@example.com"), ALICE, Why.WRONG_STATE),
    (replace(OWN, status="preparing"), ALICE, Why.WRONG_STATE),
    (replace(OWN, old_key_id=None), ALICE, Why.WRONG_STATE),
    (OWN, replace(ALICE, offboarding="done"), Why.OFFBOARDED),
    (replace(OWN, person_offboarding="done"), HEIDI, Why.OFFBOARDED),  # an offboarded person's rotations stop
    (replace(OWN, person_offboarding="pending"), ALICE, Why.OFFBOARDED),
    (SERVICE, LEO, Why.ALLOWED),
    (SERVICE, HEIDI, Why.ALLOWED),
    (SERVICE, ALICE, Why.NOT_ALLOWED),  # the requester of a service user's rotation is not its owner
    (SERVICE, CAROL, Why.NOT_ALLOWED),
]


@pytest.mark.parametrize(("rot", "actor", "expected"), REACTIVATE)
def test_reactivate_old_key(rot: RotationFacts, actor: Actor, expected: Why) -> None:
    assert p.reactivate_old_key(actor, rot).why is expected


def test_reactivate_turns_on_only_the_key_its_rotation_turned_off() -> None:
    assert p.may_reactivate_key(True, "Inactive")
    assert p.may_reactivate_key(False, "Active")  # still in the grace period: nothing was turned off
    assert not p.may_reactivate_key(False, "Inactive")  # turned off by something else (an offboarding)


@pytest.mark.parametrize("state", ["done", "pending"])
def test_an_offboarded_requester_cannot_retry_a_failed_request(state: str) -> None:
    failed = replace(PENDING, status="failed")
    assert p.retry(ALICE, failed).ok
    verdict = p.retry(replace(ALICE, offboarding=state), failed)
    assert verdict.why is Why.OFFBOARDED and "offboard" in verdict.message
