"""Intake by emoji (SPEC §6.4): in #it-help (the example policy's `intake.channels`), a help-desk member reacting
:eyes: on a message files its thread as an escalation — the issue in the triaged team's tracker with the thread's
transcript, the bot's :white_check_mark: on the message, the link in the thread, the DRIs paged. However many
reactions, people or redeliveries, one issue; reactions that do not count do nothing; an unsure classifier asks in
the thread and a help-desk member's click files it there."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from sqlalchemy import delete
from sqlmodel import select

from bot.db.engine import Database
from bot.db.models import Request, RoleMember
from bot.db.models_triage import IntakeThread
from engops.sandbox.base import Fault
from engops.sandbox.slack import Message, message_as_text
from engops.sandbox.stack import Stack
from tests.support.gitlab import ACCESS, INFRA, INTEGRATIONS, OPERATIONS
from tests.support.slack import cards_with_ack
from workflows.tickets import model_store
from workflows.tickets.team_model import TeamModel

TRACKERS = (ACCESS, INFRA, INTEGRATIONS, OPERATIONS)
BOT_REACTION = "white_check_mark"


@contextmanager
def database(stack: Stack) -> Iterator[Database]:
    db = Database(stack.env["DATABASE_URL"])
    try:
        yield db
    finally:
        db.dispose()


def intake_rows(stack: Stack) -> list[tuple[str, str, str, int | None]]:
    with database(stack) as db, db.session() as session:
        rows = session.exec(select(IntakeThread)).all()
        return [(r.channel_id, r.thread_ts, r.reacted_by, r.request_id) for r in rows]


def all_issues(stack: Stack) -> list[dict[str, Any]]:
    return [issue for tracker in TRACKERS for issue in stack.gitlab.issues(tracker)]


def bot_lines(stack: Stack, channel: str, ts: str) -> list[str]:
    """What the bot said in the thread of `ts`."""
    return [
        message_as_text(m.text, m.blocks) for m in stack.slack.thread(channel, ts) if m.user == stack.slack.bot_user_id
    ]


def react(stack: Stack, who: str, message: Message, emoji: str = "eyes") -> None:
    assert stack.driver is not None
    response = stack.driver.react(who, message, emoji)
    assert response is not None and response.status == 200, response


def test_a_help_desk_reaction_files_the_thread_once_pages_the_dris_and_says_so(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    stack.wait_idle()  # the role cache (help desk) is filled at worker start
    msg = stack.slack.post_as_user("carol", "#it-help", "Payroll sync to NetSuite failed again\nNo exports since 9am")
    reply = stack.slack.post_as_user("dave", "#it-help", "Same here, finance is blocked", thread_ts=msg.ts)
    first = driver.react("hank", msg, "eyes")
    assert first is not None and first.status == 200
    stack.wait_idle()
    [issue] = all_issues(stack)
    assert issue in stack.gitlab.issues(INTEGRATIONS)  # "NetSuite", "sync": triaged as the shortcut would
    assert sorted(issue["labels"]) == ["chatops", "escalation", "priority::3", "team::integrations"]
    assert str(issue["title"]).startswith("Payroll sync to NetSuite failed again (REQ-")
    desc = str(issue["description"])
    assert "**Requester:** Hank Hill (hank@example.com)" in desc  # the help-desk member who reacted
    assert "No exports since 9am" in desc  # the message's text as the details
    assert "Carol Chen" in desc and "> Same here, finance is blocked" in desc  # the thread's transcript
    assert stack.slack.permalink(msg) in desc
    assert stack.slack.reactions("#it-help", msg.ts)[BOT_REACTION] == [stack.slack.bot_user_id]
    [link] = [line for line in bot_lines(stack, "#it-help", msg.ts) if str(issue["web_url"]) in line]
    assert "paged" in link
    for dri in ("ivan", "judy"):
        assert len(cards_with_ack(stack, dri)) == 1
    assert str(issue["web_url"]) in driver.dm_text("hank")

    # again: the same person, another help-desk member on a reply, Slack's redelivery of the first event
    stack.slack.unreact("hank", "#it-help", msg.ts, "eyes")
    react(stack, "hank", msg)
    react(stack, "grace", reply)
    again = driver.redeliver(first)
    assert again.status == 200
    stack.wait_idle()
    assert len(all_issues(stack)) == 1
    assert len(cards_with_ack(stack, "ivan")) == 1
    assert len([line for line in bot_lines(stack, "#it-help", msg.ts) if "is filed with" in line]) == 1
    [(channel, thread_ts, reacted_by, request_id)] = intake_rows(stack)
    assert (channel, thread_ts, reacted_by) == (msg.channel, msg.ts, stack.slack.user("hank").id)
    assert request_id is not None


def test_two_help_desk_members_reacting_at_once_file_one_issue(stack: Stack) -> None:
    stack.wait_idle()
    msg = stack.slack.post_as_user("carol", "#it-help", "My laptop will not boot after the update")
    reply = stack.slack.post_as_user("carol", "#it-help", "The laptop shows a blinking cursor", thread_ts=msg.ts)
    with ThreadPoolExecutor(max_workers=3) as pool:
        done = list(
            pool.map(
                lambda act: stack.driver.react(*act),  # type: ignore[union-attr]
                [("hank", msg, "eyes"), ("grace", msg, "eyes"), ("grace", reply, "eyes")],
            )
        )
    assert all(r is not None and r.status == 200 for r in done)
    stack.wait_idle()
    [issue] = all_issues(stack)
    assert issue in stack.gitlab.issues(OPERATIONS)  # "laptop"
    assert "> The laptop shows a blinking cursor" in str(issue["description"])  # the thread, whichever was first
    assert len(intake_rows(stack)) == 1
    # the bot reacts on the message whose reaction filed the thread
    reacted = [m for m in (msg, reply) if BOT_REACTION in stack.slack.reactions("#it-help", m.ts)]
    assert len(reacted) == 1


def test_reactions_that_do_not_count_do_nothing(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    stack.wait_idle()
    asked = stack.slack.post_as_user("carol", "#it-help", "VPN drops every hour")
    elsewhere = stack.slack.post_as_user("carol", "#general", "VPN drops every hour")
    bots = stack.slack.deliver_response(
        stack.slack.user("hank").id, stack.slack.channel("#it-help").id, {"response_type": "in_channel", "text": "Hi"}
    )
    assert isinstance(bots, Message) and bots.user == stack.slack.bot_user_id
    react(stack, "carol", asked)  # not on the help desk
    react(stack, "alice", asked)
    react(stack, "hank", asked, "+1")  # another emoji
    react(stack, "hank", asked, "ticket")
    react(stack, "hank", elsewhere)  # another channel
    react(stack, "hank", bots)  # the bot's own message
    stack.wait_idle()
    assert all_issues(stack) == []
    assert intake_rows(stack) == []
    for message in (asked, elsewhere, bots):
        assert BOT_REACTION not in stack.slack.reactions(message.channel, message.ts)
        assert bot_lines(stack, message.channel, message.ts) in ([], ["Hi"])


def make_the_classifier_unsure(stack: Stack) -> None:
    """A model that knows the teams and nothing else: integrations just ahead of infrastructure, far from sure."""
    assert stack.policy is not None
    teams = ("integrations", "infrastructure", "access-management", "operations")
    model = TeamModel(0, teams, (), {}, {}, {}, [0.2, 0.1, 0.0, 0.0])
    with database(stack) as db:
        model_store.make_live(
            db,
            model,
            fingerprint=model_store.teams_fingerprint(stack.policy),
            examples=0,
            corrections=0,
            metrics={},
            trained_by="test",
        )


def test_an_unsure_classifier_asks_in_the_thread_and_the_help_desk_picks(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    make_the_classifier_unsure(stack)
    stack.wait_idle()
    msg = stack.slack.post_as_user("carol", "#it-help", "The thing from yesterday is broken again")
    react(stack, "hank", msg)
    stack.wait_idle()
    assert all_issues(stack) == []  # not filed in a guessed tracker
    [question] = [m for m in stack.slack.thread("#it-help", msg.ts) if m.user == stack.slack.bot_user_id]
    assert driver.labels(question) == ["Enterprise Applications Integrations", "Infrastructure"]
    assert "<@U00000015>" in str(question.blocks)  # asks the help-desk member who reacted
    assert BOT_REACTION not in stack.slack.reactions("#it-help", msg.ts)

    driver.click("carol", "Infrastructure", message=question)  # not on the help desk: told so, nothing filed
    stack.wait_idle()
    assert all_issues(stack) == []
    assert "Only the help desk" in driver.dm_text("carol") + str([e.text for e in driver.ephemerals("carol")])

    driver.click("grace", "Infrastructure", message=question)
    driver.click("hank", "Enterprise Applications Integrations", message=question)  # a moment later
    stack.wait_idle()
    [issue] = all_issues(stack)
    assert issue in stack.gitlab.issues(INFRA)
    assert "chosen by the requester when triage was unsure" in str(issue["description"])
    assert "**Requester:** Hank Hill" in str(issue["description"])
    question = stack.slack.message("#it-help", question.ts)
    assert driver.labels(question) == [] and "<@U00000009> picked *Infrastructure*" in question.text
    assert stack.slack.reactions("#it-help", msg.ts)[BOT_REACTION] == [stack.slack.bot_user_id]
    assert any(str(issue["web_url"]) in line for line in bot_lines(stack, "#it-help", msg.ts))
    assert len(cards_with_ack(stack, "erin")) == 1  # Infrastructure's DRI paged
    with database(stack) as db, db.session() as session:
        [req] = session.exec(select(Request)).all()
        details = req.details
    # what the classifier thought is kept with the request, as when the modal asks (triage learns from it)
    assert (details["team_how"], details["team_guess"], details["team_runner_up"]) == (
        "asked",
        "integrations",
        "infrastructure",
    )


def test_with_a_cold_role_cache_the_reaction_is_checked_live(stack: Stack) -> None:
    stack.wait_idle()
    with database(stack) as db, db.session() as session:
        session.execute(delete(RoleMember))  # as right after a start, before the roles were read
    asked = stack.slack.post_as_user("carol", "#it-help", "Zoom licence missing for the new hire")
    react(stack, "carol", asked)  # not on the help desk: Okta says so
    stack.wait_idle()
    assert all_issues(stack) == [] and intake_rows(stack) == []
    react(stack, "grace", asked)  # on the help desk: Okta says so
    stack.wait_idle()
    [issue] = all_issues(stack)
    assert "**Requester:** Grace Hopper" in str(issue["description"])


def questions(stack: Stack, msg: Message) -> list[Message]:
    assert stack.driver is not None
    return [m for m in stack.slack.thread("#it-help", msg.ts) if stack.driver.labels(m)]


def test_a_reaction_whose_attempt_failed_is_said_so_and_a_later_reaction_files_the_thread(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    make_the_classifier_unsure(stack)
    stack.wait_idle()
    msg = stack.slack.post_as_user("carol", "#it-help", "The thing from yesterday is broken again")
    # Slack refuses the question (a final error, not worth retrying): the attempt ends without asking
    stack.slack.inject(Fault(status=400, path_prefix="/api/chat.postMessage", remaining=1))
    react(stack, "hank", msg)
    stack.wait_idle()
    assert questions(stack, msg) == [] and all_issues(stack) == []
    assert intake_rows(stack) == []  # the claim is given up, not left holding the thread for ever
    [told] = bot_lines(stack, "#it-help", msg.ts)
    assert "could not file this thread" in told and ":eyes: again" in told

    stack.slack.unreact("hank", "#it-help", msg.ts, "eyes")
    react(stack, "hank", msg)  # a later reaction: asks again
    stack.wait_idle()
    [question] = questions(stack, msg)
    driver.click("grace", "Infrastructure", message=question)
    stack.wait_idle()
    [issue] = all_issues(stack)
    assert issue in stack.gitlab.issues(INFRA) and "**Requester:** Hank Hill" in str(issue["description"])
    react(stack, "grace", msg)  # once filed, more reactions file nothing
    stack.wait_idle()
    assert len(all_issues(stack)) == 1 and len(intake_rows(stack)) == 1


def test_a_pick_that_met_a_slack_outage_is_said_so_and_a_later_click_files_the_thread_once(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    make_the_classifier_unsure(stack)
    stack.wait_idle()
    msg = stack.slack.post_as_user("carol", "#it-help", "The thing from yesterday is broken again")
    react(stack, "hank", msg)
    stack.wait_idle()
    [question] = questions(stack, msg)
    # Slack does not answer reading the message for longer than the pick's retries
    stack.slack.inject(Fault(status=503, path_prefix="/api/conversations.", remaining=None))
    driver.click("grace", "Infrastructure", message=question)
    stack.wait_idle()
    stack.slack.clear_faults()
    assert all_issues(stack) == []
    assert driver.labels(stack.slack.message("#it-help", question.ts)) != []  # the buttons are still there
    assert any(
        "could not file this thread" in line and "pick the team again" in line
        for line in bot_lines(stack, "#it-help", msg.ts)
    )
    [(_, _, _, request_id)] = intake_rows(stack)
    assert request_id is None

    driver.click("grace", "Enterprise Applications Integrations", message=question)  # a later click
    driver.click("hank", "Infrastructure", message=question)  # and another a moment later: the first one files
    stack.wait_idle()
    [issue] = all_issues(stack)
    assert issue in stack.gitlab.issues(INTEGRATIONS)
    question = stack.slack.message("#it-help", question.ts)
    assert driver.labels(question) == []
    assert "<@U00000009> picked *Enterprise Applications Integrations*" in question.text
    assert stack.slack.reactions("#it-help", msg.ts)[BOT_REACTION] == [stack.slack.bot_user_id]
    with database(stack) as db, db.session() as session:
        assert len(session.exec(select(Request)).all()) == 1
