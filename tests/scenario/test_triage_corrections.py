"""Triage learns (SPEC §6.4): a DRI who relabels a bot-filed request to another team, or moves its issue to another
team's tracker, leaves a correction for the classifier, and the bot follows the request to that team. Driven as in
production: the GitLab stand-in's webhooks reach the app's `POST /gitlab/webhook`."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import col, select

from bot import audit
from bot.db.engine import Database
from bot.db.models import AuditEntry, Escalation, Request, TrackedIssue
from bot.db.models_triage import TriageCorrection
from engops.sandbox.slack import message_as_text
from engops.sandbox.stack import WEBHOOK_SECRET, Stack
from tests.support.gitlab import ACCESS, INFRA, INTEGRATIONS, OPERATIONS, post_webhook
from tests.support.slack import ACK, cards_with_ack, last_ephemeral, reply_to
from tests.support.slack_actions import file_request
from tests.support.stacks import sweep_after
from workflows.tickets.corrections import Correction, recorded_corrections

SUMMARY = "Need an S3 bucket for marketing assets"
DETAILS = "Private, versioning on"


def connect_webhook(stack: Stack, project: str | None = None) -> None:
    stack.gitlab.add_webhook(f"{stack.url}/gitlab/webhook", WEBHOOK_SECRET, project=project)


def settle(stack: Stack) -> None:
    assert stack.gitlab.wait_for_webhooks()
    stack.wait_idle()


def db_of(stack: Stack) -> Database:
    assert stack.web is not None
    db: Database = stack.web.services.db
    return db


def file_for_infrastructure(stack: Stack, user: str = "alice") -> None:
    file_request(stack, user, {"Summary": SUMMARY, "Details": DETAILS, "Team": "Infrastructure"})


def rows(stack: Stack) -> list[tuple[Any, ...]]:
    with db_of(stack).session() as session:
        found = session.exec(select(TriageCorrection).order_by(col(TriageCorrection.id)))
        return [(r.request_id, r.from_team, r.to_team, r.how, r.corrected_by, r.summary, r.details) for r in found]


def tracked(stack: Stack, request_id: int = 1) -> tuple[str, int, str]:
    with db_of(stack).session() as session:
        row = session.exec(select(TrackedIssue).where(TrackedIssue.request_id == request_id)).one()
        req = session.get(Request, request_id)
        assert req is not None
        # the request's own record of its team (what the permission rules read) agrees with the tracked issue
        assert req.details["team"] == row.team and req.details["issue"]["ref"] == f"{row.project}#{row.iid}"
        return row.project, row.iid, row.team


def audited(stack: Stack, action: str) -> list[dict[str, Any]]:
    audit.seal(db_of(stack), wait=True)
    with db_of(stack).session() as session:
        found = session.exec(select(AuditEntry).where(AuditEntry.action == action).order_by(col(AuditEntry.seq)))
        return [e.detail for e in found]


def thread_texts(stack: Stack, channel: str = "#general") -> list[str]:
    root = stack.slack.messages(channel)[0]
    return [m.text for m in stack.slack.thread(channel, root.ts)[1:]]


def redeliver(stack: Stack, index: int, **changed: Any) -> None:
    """Send a delivery again, as GitLab's "Resend request" does (or, with `changed`, a later copy of it)."""
    delivery = stack.gitlab.webhook_deliveries[index]
    body = json.loads(json.dumps(delivery.payload))
    body["object_attributes"].update(changed)
    assert post_webhook(stack, json.dumps(body).encode(), WEBHOOK_SECRET, delivery.event) == 200
    stack.wait_idle()


def test_a_dri_relabelling_to_another_team_records_one_correction_and_moves_the_request(stack: Stack) -> None:
    connect_webhook(stack)
    file_for_infrastructure(stack)
    settle(stack)
    assert tracked(stack) == (INFRA, 1, "infrastructure") and rows(stack) == []
    stack.gitlab.relabel(INFRA, 1, add=["team::access-management"], remove=["team::infrastructure"], by="erin")
    settle(stack)
    assert rows(stack) == [(1, "infrastructure", "access-management", "label", "erin", SUMMARY, DETAILS)]
    assert tracked(stack) == (INFRA, 1, "access-management")
    [entry] = audited(stack, "triage.corrected")
    assert (entry["from"], entry["to"], entry["how"], entry["by"]) == (
        "infrastructure",
        "access-management",
        "label",
        "erin",
    )
    [learnt] = recorded_corrections(db_of(stack))
    assert learnt == Correction(1, SUMMARY, DETAILS, "access-management", "infrastructure", learnt.at)
    assert "`team::access-management`" in thread_texts(stack)[-1]  # the labels message, as before

    relabel_hook = len(stack.gitlab.webhook_deliveries) - 1
    redeliver(stack, relabel_hook)  # the same delivery again
    redeliver(stack, relabel_hook, updated_at="2030-01-01 00:00:00 UTC")  # a copy that is not byte-identical
    stack.gitlab.relabel(INFRA, 1, add=["workflow::in-progress"], by="erin")  # names no team
    settle(stack)
    stack.gitlab.relabel(INFRA, 1, add=["team::integrations"], remove=["team::access-management"], by="grace")
    settle(stack)  # grace is an IT admin, no DRI of either team: the bot does not follow her
    assert len(audited(stack, "triage.corrected")) == 1
    assert rows(stack) == [(1, "infrastructure", "access-management", "label", "erin", SUMMARY, DETAILS)]
    assert tracked(stack) == (INFRA, 1, "access-management")

    # back to the team triage chose: triage was right, nothing left to learn
    stack.gitlab.relabel(INFRA, 1, add=["team::infrastructure"], remove=["team::integrations"], by="erin")
    settle(stack)
    assert rows(stack) == [] and recorded_corrections(db_of(stack)) == []
    assert tracked(stack) == (INFRA, 1, "infrastructure")
    assert [e["back_to_triage"] for e in audited(stack, "triage.corrected")] == [False, True]
    assert {d.status for d in stack.gitlab.webhook_deliveries} == {200}


def test_a_dri_moving_the_issue_to_another_tracker_is_followed_there(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    connect_webhook(stack)
    file_for_infrastructure(stack)
    settle(stack)
    new_iid = stack.gitlab.move_issue(INFRA, 1, INTEGRATIONS, by="erin")
    settle(stack)
    assert rows(stack) == [(1, "infrastructure", "integrations", "move", "erin", SUMMARY, DETAILS)]
    assert tracked(stack) == (INTEGRATIONS, new_iid, "integrations")
    [moved] = audited(stack, "gitlab.issue_moved")
    assert (moved["from"], moved["to"]) == (f"{INFRA}#1", f"{INTEGRATIONS}#{new_iid}")
    [entry] = audited(stack, "triage.corrected")
    assert (entry["from"], entry["to"], entry["how"]) == ("infrastructure", "integrations", "move")
    # a move is not a close: the request stays filed, the requester is not told it was closed
    assert "Filed in GitLab" in reply_to(stack, "alice", "/engops", "status REQ-1")
    assert "closed" not in driver.dm_text("alice")
    [told] = [t for t in thread_texts(stack) if ":truck:" in t]
    assert f"{INTEGRATIONS}#{new_iid}" in told and "Enterprise Applications Integrations" in told

    for index in range(len(stack.gitlab.webhook_deliveries)):  # every delivery again: nothing changes
        redeliver(stack, index)
    assert len([t for t in thread_texts(stack) if ":truck:" in t]) == 1
    assert len(audited(stack, "triage.corrected")) == 1 and len(audited(stack, "gitlab.issue_moved")) == 1
    assert len(rows(stack)) == 1

    # later events come from the new tracker, and its team's DRIs are the ones relayed
    stack.gitlab.comment(INTEGRATIONS, new_iid, "Integrations has it now", by="ivan")
    settle(stack)
    stack.gitlab.close_issue(INTEGRATIONS, new_iid, by="ivan")
    settle(stack)
    texts = thread_texts(stack)
    assert "Integrations has it now" in texts[-2] and "closed by *Ivan" in texts[-1]
    assert "Closed in GitLab" in reply_to(stack, "alice", "/engops", "status REQ-1")


def test_a_move_is_followed_from_either_of_its_webhooks(stack: Stack) -> None:
    """GitLab sends the new issue's "open" from the target project and the old one's "close" (with
    `moved_to_id`) from the old project, in either order, to whichever hooks those projects have."""
    connect_webhook(stack)
    file_for_infrastructure(stack, "alice")  # REQ-1, INFRA#1
    file_for_infrastructure(stack, "bob")  # REQ-2, INFRA#2
    settle(stack)
    stack.gitlab.hooks.configured.clear()
    connect_webhook(stack, project=INFRA)  # only the old project's close reaches the bot
    stack.gitlab.move_issue(INFRA, 1, ACCESS, by="erin")
    settle(stack)
    assert tracked(stack, 1) == (ACCESS, 1, "access-management")
    stack.gitlab.hooks.configured.clear()
    connect_webhook(stack, project=OPERATIONS)  # only the new issue's open reaches the bot
    stack.gitlab.move_issue(INFRA, 2, OPERATIONS, by="erin")
    settle(stack)
    assert tracked(stack, 2) == (OPERATIONS, 1, "operations")
    assert [(r[0], r[2], r[3]) for r in rows(stack)] == [(1, "access-management", "move"), (2, "operations", "move")]
    # moved by someone who is no DRI of either team: followed (that is where its events come from now), not learnt
    stack.gitlab.hooks.configured.clear()
    connect_webhook(stack)
    file_for_infrastructure(stack, "carol")  # REQ-3, INFRA#3
    stack.gitlab.move_issue(INFRA, 3, INTEGRATIONS, by="grace")
    settle(stack)
    assert tracked(stack, 3) == (INTEGRATIONS, 1, "integrations") and len(rows(stack)) == 2
    [followed] = audited(stack, "triage.followed")
    assert (followed["from"], followed["to"], followed["by"]) == ("infrastructure", "integrations", "grace")
    assert {d.status for d in stack.gitlab.webhook_deliveries} == {200}


def test_issues_the_bot_did_not_file_teach_nothing(stack: Stack) -> None:
    connect_webhook(stack)
    file_for_infrastructure(stack)  # REQ-1, INFRA#1
    settle(stack)
    gitlab = stack.gitlab
    with gitlab.lock:  # INFRA#2, a person's issue that claims to be REQ-1
        gitlab.create_issue(
            gitlab.project(INFRA),
            gitlab.user_by_username("erin"),
            title="Copy of the bucket request (REQ-1)",
            labels=["team::infrastructure"],
        )
    gitlab.relabel(INFRA, 2, add=["team::access-management"], remove=["team::infrastructure"], by="erin")
    gitlab.move_issue(INFRA, 2, ACCESS, by="erin")
    settle(stack)
    assert rows(stack) == [] and audited(stack, "triage.corrected") == []
    assert tracked(stack) == (INFRA, 1, "infrastructure")
    assert not [t for t in thread_texts(stack) if ":truck:" in t]


def test_an_escalation_moved_to_another_team_belongs_to_that_team(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    connect_webhook(stack)
    stack.wait_idle()  # the help desk's roles are cached
    driver.command("hank", "/escalate", "Printer queue is stuck", channel="#it-engops")
    driver.submit_view("hank", {"Details": "Floor 3"})
    settle(stack)
    assert tracked(stack) == (OPERATIONS, 1, "operations")  # DRIs frank and peggy
    stack.gitlab.move_issue(OPERATIONS, 1, INFRA, by="peggy")
    settle(stack)
    assert tracked(stack) == (INFRA, 1, "infrastructure")
    with db_of(stack).session() as session:
        assert [e.team for e in session.exec(select(Escalation))] == ["infrastructure"]  # whom a re-page is for
    [card] = cards_with_ack(stack, "#it-engops")
    assert "Infrastructure" in message_as_text(card.text, card.blocks)  # the cards say whose it is now
    assert "Printer queue is stuck" not in driver.dm_text("erin")
    sweep_after(stack, minutes=31)  # unacknowledged after ack_within: the re-page reaches the new team's DRI
    assert "Printer queue is stuck" in driver.dm_text("erin")
    driver.click("peggy", ACK, channel="#it-engops")  # Operations' DRI: not hers any more
    stack.wait_idle()
    assert "Only the DRIs of Infrastructure" in last_ephemeral(stack, "peggy")
    driver.click("erin", ACK, channel="#it-engops")
    stack.wait_idle()
    assert cards_with_ack(stack, "#it-engops") == []
    assert [e["to"] for e in audited(stack, "triage.corrected")] == ["infrastructure"]


def issue_hooks_with_label_changes(stack: Stack) -> list[Any]:
    return [
        d
        for d in stack.gitlab.webhook_deliveries
        if d.event == "Issue Hook" and (d.payload.get("changes") or {}).get("labels")
    ]


def post_again(stack: Stack, delivery: Any) -> None:
    assert post_webhook(stack, json.dumps(delivery.payload).encode(), WEBHOOK_SECRET, delivery.event) == 200
    stack.wait_idle()


def test_relabels_delivered_out_of_order_or_replayed_end_at_gitlabs_team(stack: Stack) -> None:
    """erin relabels infra -> access, then back: the deliveries arrive reversed, and the first one is replayed after
    a later relabel. Each is applied only while GitLab's labels still name the teams it left them naming."""
    stack.gitlab.add_webhook(f"{stack.url}/not-the-webhook", WEBHOOK_SECRET)  # GitLab sends them nowhere for now
    file_for_infrastructure(stack)
    settle(stack)
    stack.gitlab.relabel(INFRA, 1, add=["team::access-management"], remove=["team::infrastructure"], by="erin")
    stack.gitlab.relabel(INFRA, 1, add=["team::infrastructure"], remove=["team::access-management"], by="erin")
    settle(stack)
    to_access, back_to_infra = issue_hooks_with_label_changes(stack)
    post_again(stack, back_to_infra)
    post_again(stack, to_access)
    assert tracked(stack) == (INFRA, 1, "infrastructure")  # where GitLab has it
    assert rows(stack) == [] and audited(stack, "triage.corrected") == []

    # (with another label too: GitLab's timestamps are to the second, and an identical body is taken as a redelivery)
    stack.gitlab.relabel(
        INFRA, 1, add=["team::access-management", "urgent"], remove=["team::infrastructure"], by="erin"
    )
    settle(stack)
    post_again(stack, issue_hooks_with_label_changes(stack)[-1])
    assert tracked(stack) == (INFRA, 1, "access-management")
    assert rows(stack) == [(1, "infrastructure", "access-management", "label", "erin", SUMMARY, DETAILS)]
    post_again(stack, back_to_infra)  # a replay of the old relabel back: GitLab says access-management
    post_again(stack, to_access)
    assert tracked(stack) == (INFRA, 1, "access-management")
    assert rows(stack) == [(1, "infrastructure", "access-management", "label", "erin", SUMMARY, DETAILS)]
    assert len(audited(stack, "triage.corrected")) == 1


def retitle(stack: Stack, project: str, iid: int, title: str, by: str) -> None:
    gitlab = stack.gitlab
    with gitlab.lock:
        gitlab.update_issue(gitlab.issue_obj(project, iid), gitlab.user_by_username(by), title=title)


def test_a_move_is_not_followed_to_another_requests_issue_retitled_as_its_own(stack: Stack) -> None:
    connect_webhook(stack)
    file_for_infrastructure(stack, "alice")  # REQ-1, INFRA#1
    file_request(stack, "bob", {"Summary": "Printer on floor 3 jams", "Team": "Operations"})  # REQ-2, OPERATIONS#1
    file_for_infrastructure(stack, "carol")  # REQ-3, INFRA#2
    settle(stack)
    assert tracked(stack, 2) == (OPERATIONS, 1, "operations")
    retitle(stack, OPERATIONS, 1, "Printer on floor 3 jams (REQ-1)", by="grace")  # a decoy for REQ-1
    retitle(stack, INFRA, 2, "Need a bucket (REQ-3)", by="grace")
    stack.gitlab.add_project("elsewhere/scratch")
    stack.gitlab.hooks.configured.clear()
    connect_webhook(stack, project=INFRA)  # only the old issue's close reaches the bot: it has to look
    stack.gitlab.move_issue(INFRA, 1, "elsewhere/scratch", by="erin")  # no team's tracker
    settle(stack)
    assert tracked(stack, 1) == (INFRA, 1, "infrastructure") and tracked(stack, 2) == (OPERATIONS, 1, "operations")
    [lost] = [t for t in thread_texts(stack) if ":truck:" in t]
    assert "not a team's tracker" in lost
    close = next(d for d in stack.gitlab.webhook_deliveries if d.payload["object_attributes"].get("moved_to_id"))
    redeliver(stack, stack.gitlab.webhook_deliveries.index(close), updated_at="2030-01-01 00:00:00 UTC")
    stack.gitlab.reopen_issue(INFRA, 1, by="erin")  # a later event of the old issue
    settle(stack)
    assert len([t for t in thread_texts(stack) if ":truck:" in t]) == 1  # told once
    assert len(audited(stack, "gitlab.issue_moved_elsewhere")) == 1

    retitle(stack, OPERATIONS, 1, "Printer on floor 3 jams (REQ-3)", by="grace")
    new_iid = stack.gitlab.move_issue(INFRA, 2, ACCESS, by="erin")  # REQ-3 moved to Access's tracker
    settle(stack)
    assert tracked(stack, 3) == (ACCESS, new_iid, "access-management")
    assert tracked(stack, 2) == (OPERATIONS, 1, "operations")
    assert [(r[0], r[1], r[2]) for r in rows(stack)] == [(3, "infrastructure", "access-management")]


def test_moved_back_to_the_team_triage_chose_after_a_move_that_did_not_count_is_no_correction(stack: Stack) -> None:
    connect_webhook(stack)
    file_for_infrastructure(stack)
    settle(stack)
    new_iid = stack.gitlab.move_issue(INFRA, 1, INTEGRATIONS, by="grace")  # no DRI: followed, not learnt
    settle(stack)
    assert tracked(stack) == (INTEGRATIONS, new_iid, "integrations") and rows(stack) == []
    back_iid = stack.gitlab.move_issue(INTEGRATIONS, new_iid, INFRA, by="erin")  # a DRI puts it back
    settle(stack)
    assert tracked(stack) == (INFRA, back_iid, "infrastructure")
    assert rows(stack) == [] and recorded_corrections(db_of(stack)) == []
    [entry] = audited(stack, "triage.corrected")
    assert (entry["triaged_to"], entry["back_to_triage"]) == ("infrastructure", True)
