"""Security: the authorisation matrix. Every privileged action, tried by every role — the requester, the
requester's manager, the group owner, the help desk, an IT admin, an unrelated employee, the service
user's owner, the team's DRI. Each cell either has its effect, or changes nothing at all (no row of any
decision table, no audit entry, nothing at Okta, Google, AWS or GitLab) and tells the person why.

Buttons are clicked where the person can see them (a channel copy of the card), and, where the card is
someone else's DM, as a forged click on that message: the server must decide from the stored request and
the clicker, never from where the button was.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import delete
from sqlmodel import select

from bot.db.models import ApprovalStep, Escalation, Person, Request, RoleMember
from bot.slack import triage_views
from bot.slack.offboarding_views import PREVIEW_CALLBACK as OFFBOARD_PREVIEW
from engops.sandbox.aws import sandbox_client
from engops.sandbox.base import Fault
from engops.sandbox.slack import Message
from engops.sandbox.stack import EXAMPLE_POLICY, Stack, StackOptions
from tests.support.authorisation import (
    REFUSAL,
    ROLES,
    Row,
    mark,
    policy_for_roles,
    snapshot,
    tampered,
    told_since,
)
from tests.support.aws_keys import keys_of
from tests.support.databases import fresh_database
from tests.support.directory import set_manager
from tests.support.effects import request_status as status
from tests.support.gitlab import INFRA
from tests.support.slack import reply_to
from tests.support.slack_actions import file_request, offboard, request_access, rotate
from tests.support.slack_output import RAW_ERRORS, find_card

Attempt = Callable[[str, str], str | None]  # (role, person) -> what they were told, when not on screen


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """The whole stack, with a policy where each role is a different person (see `policy_for_roles`)."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(policy_for_roles(yaml.safe_load(EXAMPLE_POLICY.read_text()))))
    with fresh_database(tmp_path) as url:
        running = Stack.start(
            StackOptions(data_dir=tmp_path, database_url=url, policy_path=policy, manual_clock=True, fast_retries=True)
        )
        try:
            running.wait_idle()  # the role cache (help desk, IT admins) is filled at worker start
            yield running
        finally:
            running.stop()


def run_row(
    stack: Stack,
    action: str,
    allowed: set[str],
    attempt: Attempt,
    happened: Callable[[str], bool],
    roles: dict[str, str] | None = None,
) -> Row:
    """Refused roles first (each must change nothing and be told why), then each allowed role (its effect)."""
    people = {**ROLES, **(roles or {})}
    row = Row(action)
    # one person in two roles (the help desk who requested): they act once, allowed if either role is
    acting: dict[str, str] = {}
    for role, who in people.items():
        if who not in acting or role in allowed:
            acting[who] = role
    order = sorted(acting.items(), key=lambda item: item[1] in allowed)
    for who, role in order:
        before, since = snapshot(stack), mark(stack, who)
        said = attempt(role, who)
        stack.wait_idle()
        if role in allowed:
            assert happened(role), f"{action}: {role} ({who}) may, but nothing happened"
            cell = "allowed"
        else:
            after = snapshot(stack)
            changed = {k for k in before if before[k] != after[k]}
            assert not changed, f"{action}: {role} ({who}) is refused, yet {sorted(changed)} changed"
            told = said if said is not None else told_since(stack, who, since)
            assert REFUSAL.search(told), f"{action}: {role} ({who}) was refused without a clear word: {told[:300]!r}"
            assert not RAW_ERRORS.search(told), told
            cell = f"refused: {told.strip().splitlines()[0][:100]}"
        for other, person in people.items():
            if person == who:
                row.cells[other] = cell
    print("\n" + row.render())
    return row


def click(stack: Stack, who: str, label: str, conversation: str, ref: int) -> None:
    assert stack.driver is not None
    card = find_card(stack, conversation, ref, label)
    assert card is not None, f"no {label!r} on REQ-{ref} in {conversation}"
    assert stack.driver.click(who, label, message=card).status == 200


def step_statuses(stack: Stack, ref: int) -> list[str]:
    assert stack.web is not None
    with stack.web.services.db.session() as session:
        steps = session.exec(select(ApprovalStep).where(ApprovalStep.request_id == ref))
        return [s.status for s in sorted(steps, key=lambda s: s.position)]


def deny_with_reason(stack: Stack, who: str, conversation: str, ref: int) -> None:
    """Deny: the reason modal opens for those who may decide, and is submitted."""
    assert stack.driver is not None
    click(stack, who, "Deny", conversation, ref)
    view = stack.driver.current_view(who)
    if view is not None and view.callback_id == "deny_reason":
        stack.driver.submit_view(who, {"Reason": "Not needed for this quarter"})


# --- Approve and Deny -----------------------------------------------------------------------------------------------
def test_approve_and_deny_access(stack: Stack) -> None:
    request_access(stack, "alice", "aws-sandbox-admins", "4h", "Incident", channel="#it-engops")  # manager, owners

    def approve(role: str, who: str) -> None:
        click(stack, who, "Approve", "#it-engops", 1)

    run_row(stack, "Approve access (manager step)", {"requester's manager"}, approve,
            lambda role: step_statuses(stack, 1) == ["approved", "pending"])  # fmt: skip
    run_row(stack, "Approve access (owners step)", {"group owner"}, approve,
            lambda role: "alice@example.com" in stack.okta.members("aws-sandbox-admins"))  # fmt: skip

    request_access(stack, "bob", "netsuite-finance", None, "Quarter close", channel="#it-engops")  # owners
    run_row(stack, "Deny access", {"group owner"}, lambda role, who: deny_with_reason(stack, who, "#it-engops", 2),
            lambda role: status(stack, 2) == "denied", roles={"requester": "bob"})  # fmt: skip
    assert "bob@example.com" not in stack.okta.members("netsuite-finance")


def test_approve_and_deny_offboarding(stack: Stack) -> None:
    offboard(stack, "grace", "irene@example.com quinn@example.com", channel="#it-engops")  # grace: help desk + admin
    roles = {"requester": "grace"}  # irene's and quinn's manager is mona
    run_row(stack, "Deny offboarding", {"IT admin"}, lambda role, who: deny_with_reason(stack, who, "#it-engops", 1),
            lambda role: status(stack, 1) == "denied", roles=roles)  # fmt: skip
    offboard(stack, "grace", "irene@example.com", channel="#it-engops")
    run_row(stack, "Approve offboarding", {"IT admin"},
            lambda role, who: click(stack, who, "Approve", "#it-engops", 2),
            lambda role: stack.google.is_suspended("irene@example.com"), roles=roles)  # fmt: skip
    assert not stack.google.is_suspended("quinn@example.com")


def test_approve_and_deny_a_service_users_key_rotation(stack: Stack) -> None:
    rotate(stack, "bob", "svc-deploy", reason="Quarterly rotation")  # from #general; owners: leo
    roles = {"requester": "bob"}
    run_row(stack, "Deny service-user key rotation", {"service-user owner"},
            lambda role, who: deny_with_reason(stack, who, "#general", 1),
            lambda role: status(stack, 1) == "denied", roles=roles)  # fmt: skip
    assert len(keys_of(stack, "svc-deploy")) == 1
    rotate(stack, "bob", "svc-deploy", reason="Quarterly rotation, again")
    run_row(stack, "Approve service-user key rotation", {"service-user owner"},
            lambda role, who: click(stack, who, "Approve", "#general", 2),
            lambda role: len(keys_of(stack, "svc-deploy")) == 2, roles=roles)  # fmt: skip


def test_nobody_approves_their_own_request(stack: Stack) -> None:
    """The requester as approver: oscar owns the group, grace is an IT admin, leo owns the service user."""
    request_access(stack, "oscar", "netsuite-finance", None, "Quarter close", channel="#it-engops")
    run_row(stack, "Approve own access (owner)", {"IT admin"},
            lambda role, who: click(stack, who, "Approve", "#it-engops", 1),
            lambda role: "oscar@example.com" in stack.okta.members("netsuite-finance"),
            roles={"requester": "oscar", "group owner": "oscar", "requester's manager": "victor"})  # fmt: skip
    offboard(stack, "grace", "quinn@example.com", channel="#it-engops")
    run_row(stack, "Approve own offboarding (IT admin)", {"IT admin"},
            lambda role, who: click(stack, who, "Approve", "#it-engops", 2),
            lambda role: stack.google.is_suspended("quinn@example.com"),
            roles={"requester": "grace", "requester's manager": "victor"})  # fmt: skip
    rotate(stack, "leo", "svc-deploy", reason="My service user")
    run_row(stack, "Approve own service-user rotation (owner)", {"IT admin"},
            lambda role, who: click(stack, who, "Approve", "#general", 3),
            lambda role: len(keys_of(stack, "svc-deploy")) == 2,
            roles={"requester": "leo", "service-user owner": "leo", "requester's manager": "oscar"})  # fmt: skip


# --- after the decision ---------------------------------------------------------------------------------------------
def test_revoke_now(stack: Stack) -> None:
    grants = {"requester": ("alice", 1), "group owner": ("dave", 2), "IT admin": ("nina", 3)}
    for person, ref in grants.values():
        request_access(stack, person, "netsuite-finance", None, "Quarter close", channel="#it-engops")
        click(stack, "oscar", "Approve", "#it-engops", ref)
        stack.wait_idle()

    def target(role: str) -> tuple[str, int]:
        return grants.get(role, grants["requester"])

    run_row(stack, "Revoke now", set(grants),
            lambda role, who: click(stack, who, "Revoke now", "#it-engops", target(role)[1]),
            lambda role: f"{target(role)[0]}@example.com" not in stack.okta.members("netsuite-finance"))  # fmt: skip


def test_retry_failed_steps(stack: Stack) -> None:
    # access: Okta refuses to add members until the faults are cleared
    stack.okta.inject(Fault(status=503, path_prefix="/api/v1/groups/", method="PUT", remaining=None))
    requests = {"requester": ("alice", 1), "IT admin": ("dave", 2)}
    for person, _ in requests.values():
        request_access(stack, person, "zoom-users", None, "Customer calls", channel="#it-engops")
    assert [status(stack, 1), status(stack, 2)] == ["failed", "failed"]
    stack.okta.clear_faults()

    def target(role: str) -> tuple[str, int]:
        return requests.get(role, requests["requester"])

    run_row(stack, "Retry failed steps (access)", set(requests),
            lambda role, who: click(stack, who, "Retry failed steps", "#it-engops", target(role)[1]),
            lambda role: f"{target(role)[0]}@example.com" in stack.okta.members("zoom-users"))  # fmt: skip

    # an IT request whose tracker cannot be seen: Retry filing
    stack.gitlab.set_project_access(INFRA, visible=False)
    filings = {"requester": ("alice", 3), "IT admin": ("bob", 4)}
    for person, _ in filings.values():
        file_request(stack, person, {"Summary": f"Terraform plan fails for {person}"})  # -> Infrastructure
    stack.gitlab.set_project_access(INFRA, visible=True)
    run_row(stack, "Retry filing (IT request)", set(filings),
            lambda role, who: click(stack, who, "Retry filing", filings.get(role, filings["requester"])[0],
                                    filings.get(role, filings["requester"])[1]),
            lambda role: any(i["title"].endswith(f"(REQ-{filings.get(role, filings['requester'])[1]})")
                             for i in stack.gitlab.issues(INFRA)))  # fmt: skip


def test_retry_of_a_request_that_was_never_approved_asks_its_approvers_again(stack: Stack) -> None:
    """A request whose plan failed (the group was missing in Okta) was never approved: Retry plans it again and
    sends it to its approvers; it never runs unapproved (it used to: Retry started the execution)."""
    with stack.okta.lock:
        group_id = next(g.id for g in stack.okta.groups.values() if g.name == "netsuite-finance")
        saved = stack.okta.groups.pop(group_id)
    requests = {"requester": ("alice", 1), "IT admin": ("dave", 2)}
    for person, _ in requests.values():
        request_access(stack, person, "netsuite-finance", None, "Quarter close", channel="#it-engops")
    assert [status(stack, 1), status(stack, 2)] == ["failed", "failed"]
    with stack.okta.lock:
        stack.okta.groups[group_id] = saved

    def target(role: str) -> tuple[str, int]:
        return requests.get(role, requests["requester"])

    run_row(stack, "Retry (plan failed)", set(requests),
            lambda role, who: click(stack, who, "Retry failed steps", "#it-engops", target(role)[1]),
            lambda role: status(stack, target(role)[1]) == "pending")  # fmt: skip
    assert not {"alice@example.com", "dave@example.com"} & stack.okta.members("netsuite-finance")
    assert find_card(stack, "oscar", 1, "Approve") is not None and find_card(stack, "oscar", 2, "Approve") is not None


def test_retry_and_undo_an_offboarding(stack: Stack) -> None:
    for person in ("irene", "quinn"):  # Okta cannot clear their sessions: the runs partly fail
        okta_id = stack.okta.user_id(f"{person}@example.com")
        stack.okta.inject(Fault(status=503, path_prefix=f"/api/v1/users/{okta_id}/sessions", remaining=None))
    runs = {"requester": 1, "IT admin": 2}
    for ref, person in ((1, "irene"), (2, "quinn")):
        offboard(stack, "hank", f"{person}@example.com", channel="#it-engops")
        click(stack, "heidi", "Approve", "#it-engops", ref)
        stack.wait_idle()
    assert [status(stack, 1), status(stack, 2)] == ["partly_failed", "partly_failed"]
    stack.okta.clear_faults()
    roles = {"requester": "hank", "requester's manager": "mona"}
    run_row(stack, "Retry failed steps (offboarding)", set(runs),
            lambda role, who: click(stack, who, "Retry failed steps", "#it-engops", runs.get(role, 1)),
            lambda role: status(stack, runs[role]) == "done", roles=roles)  # fmt: skip
    run_row(stack, "Undo (offboarding, within 24 h)", {"IT admin"},
            lambda role, who: click(stack, who, "Undo", "#it-engops", 1),
            lambda role: not stack.google.is_suspended("irene@example.com"), roles=roles)  # fmt: skip
    stack.advance(hours=25)
    run_row(stack, "Undo (offboarding, after 24 h)", set(),
            lambda role, who: click(stack, who, "Undo", "#it-engops", 2),
            lambda role: False, roles=roles)  # fmt: skip
    assert stack.google.is_suspended("quinn@example.com")


def test_reactivate_old_key(stack: Stack) -> None:
    rotations = {"requester": ("dave", 1), "IT admin": ("alice", 2)}  # own keys: no approval
    for person, _ in rotations.values():
        rotate(stack, person)

    def target(role: str) -> tuple[str, int]:
        return rotations.get(role, rotations["requester"])

    run_row(stack, "Reactivate old key (own key)", set(rotations),
            lambda role, who: click(stack, who, "Reactivate old key", target(role)[0], target(role)[1]),
            lambda role: status(stack, target(role)[1]) == "cancelled", roles={"requester": "dave"})  # fmt: skip

    def service_rotation(ref: int) -> None:
        """bob asks to rotate svc-deploy's keys (REQ-<ref>), leo approves."""
        assert stack.moto is not None
        iam = sandbox_client("iam", stack.moto.url)
        for key in iam.list_access_keys(UserName="svc-deploy")["AccessKeyMetadata"][1:]:  # a rollback left two
            iam.delete_access_key(UserName="svc-deploy", AccessKeyId=key["AccessKeyId"])
        rotate(stack, "bob", "svc-deploy", reason="Quarterly rotation")
        click(stack, "leo", "Approve", "#general", ref)
        stack.wait_idle()

    service_rotation(3)  # for the refusals and the IT admin; the owner gets REQ-4

    def reactivate(role: str, who: str) -> None:
        if role == "service-user owner":
            service_rotation(4)
        click(stack, who, "Reactivate old key", "leo", 4 if role == "service-user owner" else 3)

    run_row(stack, "Reactivate old key (service user)", {"service-user owner", "IT admin"}, reactivate,
            lambda role: status(stack, 4 if role == "service-user owner" else 3) == "cancelled",
            roles={"requester": "bob"})  # fmt: skip


def test_im_on_it(stack: Stack) -> None:
    assert stack.driver is not None
    for text in ("Printer queue is stuck", "Laptops cannot enroll"):  # #it-engops: Operations (frank, peggy)
        stack.driver.command("hank", "/escalate", text, channel="#it-engops")
        stack.driver.submit_view("hank", {"Details": "Since this morning"})
        stack.wait_idle()
    takes = {"team DRI": 1, "IT admin": 2}

    def acked(escalation_id: int) -> bool:
        assert stack.web is not None
        with stack.web.services.db.session() as session:
            esc = session.get(Escalation, escalation_id)
            return esc is not None and esc.acked_at is not None

    run_row(stack, "I'm on it", set(takes),
            lambda role, who: click(stack, who, "I'm on it", "#it-engops", takes.get(role, 1)),
            lambda role: acked(takes[role]), roles={"requester": "hank"})  # fmt: skip


# --- commands and fields for some roles only -------------------------------------------------------------------------
def test_offboard_escalate_and_on_behalf_of(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None

    def opens(callback: str) -> Callable[[str], bool]:
        def check(role: str) -> bool:
            view = driver.current_view(ROLES[role])
            ok = view is not None and view.callback_id == callback
            if view is not None:
                driver.close_view(ROLES[role])
            return ok

        return check

    def command(name: str, text: str) -> Attempt:
        def attempt(role: str, who: str) -> None:
            assert driver.command(who, name, text, channel="#it-engops").status == 200

        return attempt

    run_row(stack, "/offboard", {"help desk", "IT admin"}, command("/offboard", "irene@example.com"),
            opens(OFFBOARD_PREVIEW))  # fmt: skip
    run_row(stack, "/escalate", {"help desk", "IT admin"}, command("/escalate", "VPN is down"),
            opens(triage_views.ESCALATION_CALLBACK))  # fmt: skip

    bob = stack.slack.user("bob").id

    def on_behalf(role: str, who: str) -> str | None:
        driver.command(who, "/access", "", channel="#general")
        view = driver.current_view(who)
        assert view is not None
        fields = [b.get("block_id") for b in view.blocks]
        if role == "help desk":
            assert "on_behalf" in fields
            driver.submit_view(who, {"Okta group": "zoom-users", "Justification": "For bob", "on_behalf": "bob"})
            return None
        assert "on_behalf" not in fields, f"{role} is offered 'on behalf of'"

        def add_on_behalf(payload: dict[str, Any]) -> None:  # as if the field had been there
            payload["view"]["state"]["values"]["on_behalf"] = {
                "on_behalf": {"type": "users_select", "selected_user": bob}
            }

        driver.select(who, "Okta group", "zoom-users", view=True)
        answer = tampered(driver, lambda: driver.submit_view(who, {"Justification": "For bob"}), add_on_behalf).json()
        if driver.current_view(who) is not None:
            driver.close_view(who)
        return str(answer)

    run_row(stack, "/access on behalf of", {"help desk"}, on_behalf,
            lambda role: "bob@example.com" in stack.okta.members("zoom-users"))  # fmt: skip


def test_rotating_someone_elses_own_keys(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None

    def preview(role: str, who: str) -> None:
        driver.command(who, "/rotate-keys", "alice")
        stack.wait_idle()
        view = driver.current_view(who)
        if role == "requester" and view is not None and view.body.get("submit"):
            driver.submit_view(who, {})

    assert stack.moto is not None
    iam = sandbox_client("iam", stack.moto.url)
    run_row(stack, "/rotate-keys alice (her own IAM user)", {"requester"}, preview,
            lambda role: len(iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]) == 2)  # fmt: skip


# --- request states, people cut off, confidential requests, a cold role cache (SPEC §6.1-§6.3) ------------------------
def stale_card(stack: Stack, conversation: str, ref: int, label: str) -> Message:
    """The card as it still shows on someone's screen (its buttons), whatever happens to the request later."""
    card = find_card(stack, conversation, ref, label)
    assert card is not None, f"no {label!r} on REQ-{ref} in {conversation}"
    return copy.deepcopy(card)


def click_card(stack: Stack, who: str, label: str, card: Message) -> None:
    assert stack.driver is not None
    assert stack.driver.click(who, label, message=card).status == 200


def test_approve_in_every_request_state(stack: Stack) -> None:
    """Approve on a request no longer pending (done, expired); on a step whose only approver passed the step
    before (it falls back to IT admins); after the requester's manager changed in Okta."""
    request_access(stack, "alice", "netsuite-finance", None, "Quarter close", channel="#it-engops")  # owners: oscar
    done = stale_card(stack, "#it-engops", 1, "Approve")
    click(stack, "oscar", "Approve", "#it-engops", 1)
    stack.wait_idle()
    assert status(stack, 1) == "done"
    run_row(stack, "Approve (request done)", set(), lambda role, who: click_card(stack, who, "Approve", done),
            lambda role: False)  # fmt: skip

    request_access(stack, "bob", "netsuite-finance", None, "Quarter close", channel="#it-engops")
    expired = stale_card(stack, "#it-engops", 2, "Approve")
    stack.advance(days=7, minutes=1)
    stack.run_sweep()
    stack.wait_idle()
    assert status(stack, 2) == "expired"
    run_row(stack, "Approve (request expired)", set(), lambda role, who: click_card(stack, who, "Approve", expired),
            lambda role: False, roles={"requester": "bob"})  # fmt: skip

    set_manager(stack, "carol", "oscar")  # oscar: carol's manager and the owner of aws-sandbox-admins
    request_access(stack, "carol", "aws-sandbox-admins", "4h", "Incident", channel="#it-engops")
    click(stack, "oscar", "Approve", "#it-engops", 3)
    stack.wait_idle()
    assert step_statuses(stack, 3) == ["approved", "pending"]
    run_row(stack, "Approve (owners step; the owner passed the manager step)", {"IT admin"},
            lambda role, who: click(stack, who, "Approve", "#it-engops", 3),
            lambda role: "carol@example.com" in stack.okta.members("aws-sandbox-admins"),
            roles={"requester": "carol", "requester's manager": "oscar", "unrelated employee": "dave"})  # fmt: skip

    request_access(stack, "alice", "aws-sandbox-admins", "4h", "Incident", channel="#it-engops")
    set_manager(stack, "alice", "victor")
    run_row(stack, "Approve (manager step; the manager changed in Okta)", {"new manager"},
            lambda role, who: click(stack, who, "Approve", "#it-engops", 4),
            lambda role: step_statuses(stack, 4) == ["approved", "pending"],
            roles={"new manager": "victor"})  # fmt: skip


def test_status_of_a_request(stack: Stack) -> None:
    """`/engops status REQ-n`: a confidential request is for the requester, its team's DRIs and IT admins only."""
    assert stack.driver is not None
    request_access(stack, "alice", "aws-sandbox-admins", "4h", "Incident", channel="#it-engops")
    file_request(stack, "alice", {"Summary": "I clicked a phishing link and typed my password"}, channel="#it-engops")
    assert stack.web is not None
    with stack.web.services.db.session() as session:
        it_request = session.get(Request, 2)
        assert it_request is not None and it_request.details.get("confidential")
        assert "frank@example.com" in stack.web.services.policy.teams[str(it_request.details["team"])].dris
    shown: dict[str, str] = {}

    def status_of(ref: int) -> Attempt:
        def attempt(role: str, who: str) -> str:
            shown[role] = reply_to(stack, who, "/engops", f"status REQ-{ref}")
            return shown[role]

        return attempt

    def sees(role: str) -> bool:
        return "not one of yours" not in shown[role]

    readers = {"requester", "requester's manager", "group owner", "help desk", "IT admin"}  # its approvers, not DRIs
    run_row(stack, "/engops status (access request)", readers, status_of(1), sees)
    confidential_readers = {"requester", "IT admin", "team DRI"}
    run_row(stack, "/engops status (confidential IT request)", confidential_readers, status_of(2), sees)


def test_people_cut_off_get_no_access_back(stack: Stack) -> None:
    """irene is offboarded: nobody reactivates her old key (not even an IT admin), and she cannot request access,
    rotate keys or press Reactivate herself."""
    assert stack.driver is not None
    rotate(stack, "irene")  # REQ-1: her old key in its grace period
    notice = stale_card(stack, "irene", 1, "Reactivate old key")
    offboard(stack, "hank", "irene@example.com", channel="#it-engops")  # REQ-2
    click(stack, "heidi", "Approve", "#it-engops", 2)
    stack.wait_idle()
    assert status(stack, 2) in ("done", "partly_failed")
    run_row(stack, "Reactivate old key (after the person's offboarding)", set(),
            lambda role, who: click_card(stack, who, "Reactivate old key", notice),
            lambda role: False, roles={"offboarded employee": "irene"})  # fmt: skip

    row = Row("commands of an offboarded person")
    for action, command, text in (("/access", "/access", "zoom-users"), ("/rotate-keys", "/rotate-keys", "")):
        before = snapshot(stack)
        said = reply_to(stack, "irene", command, text)
        stack.wait_idle()
        assert snapshot(stack) == before, f"{action} by an offboarded person changed something"
        assert REFUSAL.search(said) and "offboarded" in said, said
        row.cells[action] = f"refused: {said[:100]}"
    print("\n" + row.render())


def test_offboard_with_a_cold_role_cache(stack: Stack) -> None:
    """Right after a first start the role and person caches are empty: holders are not turned away (the preview
    reads the roles live), the others are refused there."""
    assert stack.web is not None and stack.driver is not None
    driver = stack.driver
    with stack.web.services.db.session() as session:
        session.execute(delete(RoleMember))
        session.execute(delete(Person))

    def attempt(role: str, who: str) -> None:
        assert driver.command(who, "/offboard", "irene@example.com", channel="#it-engops").status == 200
        stack.wait_idle()

    def previewed(role: str) -> bool:
        view = driver.current_view(ROLES[role])
        ok = view is not None and view.callback_id == OFFBOARD_PREVIEW and "irene@example.com" in str(view.blocks)
        return ok and bool(view and view.body.get("submit"))

    run_row(stack, "/offboard (cold role cache)", {"help desk", "IT admin"}, attempt, previewed)
