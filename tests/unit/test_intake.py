"""Intake by emoji, the parts without Slack: which reactions count, who may file by emoji, the form a reacted message
makes, the team question's buttons, and the thread claim (one winner among claims at the same moment, on SQLite and
PostgreSQL)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlmodel import select

from bot import permissions
from bot.db.engine import Database
from bot.db.models import Request, RequestStatus
from bot.db.models_triage import IntakeThread
from bot.permissions import Actor, Why
from bot.policy import Intake, Policy, load_policy
from bot.slack import intake_views
from engops.sandbox.stack import EXAMPLE_POLICY
from workflows.tickets.filing_form import check_form
from workflows.tickets.intake import (
    NO_TEXT_DETAILS,
    Looked,
    Reaction,
    asked_choice,
    claim_thread,
    intake_form,
    reaction_counts,
    release_thread,
    take_waiting,
)
from workflows.tickets.triage import TeamChoice

INTAKE = Intake(channels=["#it-help"], reaction="eyes")
GUESS = intake_views.Guess("integrations", "infrastructure", 0.41, ("sync",))
BOT = "U0ENGOPSBOT"


def reaction_added(**changed: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "reaction_added",
        "user": "U00000015",
        "reaction": "eyes",
        "item_user": "U00000005",
        "item": {"type": "message", "channel": "C00000006", "ts": "1700000000.000100"},
        "event_ts": "1700000001.000200",
    }
    event.update(changed)
    return event


def test_the_intake_emoji_on_someones_message_counts() -> None:
    assert reaction_counts(INTAKE, reaction_added(), BOT) == Reaction("C00000006", "1700000000.000100", "U00000015")
    assert reaction_counts(INTAKE, reaction_added(reaction="eyes::skin-tone-4"), BOT) is not None  # any skin tone


@pytest.mark.parametrize(
    "changed",
    [
        {"reaction": "+1"},
        {"reaction": "eyes_closed"},
        {"item": {"type": "file", "file": "F1"}},
        {"item_user": BOT},  # the bot's own message
        {"user": BOT},  # the bot's own reaction
        {"user": ""},
        {"item": {"type": "message", "channel": "C00000006"}},
        {"item": {"type": "message", "channel": "D00000006", "ts": "1700000000.000100"}},  # a DM: no job at all
    ],
)
def test_reactions_that_cannot_file_anything_are_dropped_on_the_ack_path(changed: dict[str, Any]) -> None:
    assert reaction_counts(INTAKE, reaction_added(**changed), BOT) is None


def test_without_an_intake_section_no_reaction_counts() -> None:
    assert reaction_counts(None, reaction_added(), BOT) is None


def test_only_the_help_desk_files_by_emoji_and_a_cold_cache_asks_for_a_live_read() -> None:
    hank = Actor(slack_id="U15", email="hank@example.com", roles=frozenset({"helpdesk"}))
    heidi = Actor(slack_id="U10", email="heidi@example.com", roles=frozenset({"it-admins"}))
    cold = Actor(slack_id="U9", email="grace@example.com", unconfirmed=frozenset({"helpdesk"}))
    assert permissions.intake(hank).ok
    assert permissions.intake(heidi).why is Why.NOT_ALLOWED  # IT admins escalate with the shortcut
    assert "Only the help desk" in permissions.intake(heidi).message
    assert permissions.intake(cold).check_live


def test_the_form_is_the_shortcuts_untouched_the_first_line_and_the_whole_text() -> None:
    looked = Looked("it-help", "1700000000.000100", "VPN is down &amp; out\nSince 9am, for everyone", "U00000005")
    form = intake_form("C00000006", "1700000000.000300", "U00000015", looked)
    assert (form.kind, form.requester_slack_id, form.team, form.urgency) == ("escalation", "U00000015", None, None)
    assert form.summary == "VPN is down & out" and form.details == "VPN is down & out\nSince 9am, for everyone"
    assert (form.channel_id, form.channel_name, form.message_ts, form.thread_ts) == (
        "C00000006",
        "it-help",
        "1700000000.000300",
        "1700000000.000100",
    )
    assert check_form_ok(form)
    blank = intake_form("C00000006", "1700000000.000300", "U00000015", Looked("it-help", "1.1", "", ""))
    assert blank.summary == "Slack thread in #it-help" and blank.details == NO_TEXT_DETAILS
    assert check_form_ok(blank)


def example_policy() -> Policy:
    return load_policy(EXAMPLE_POLICY)


def check_form_ok(form: Any) -> bool:
    return check_form(example_policy(), form) == {}


def test_the_team_question_has_one_button_per_team_and_its_value_reads_back() -> None:
    offered = [
        intake_views.TeamOffer("integrations", "Enterprise Applications Integrations", "Workato, NetSuite"),
        intake_views.TeamOffer("infrastructure", "Infrastructure"),
    ]
    text, blocks = intake_views.team_question(
        reactor_slack_id="U00000015",
        author_slack_id="U00000005",
        summary="<!channel> the thing is <broken|http://evil>",
        offered=offered,
        guess=GUESS,
        thread_ts="1.1",
        message_ts="1.2",
    )
    [actions] = [b for b in blocks if b["type"] == "actions"]
    assert [e["text"]["text"] for e in actions["elements"]] == [
        "Enterprise Applications Integrations",
        "Infrastructure",
    ]
    assert len({e["action_id"] for e in actions["elements"]}) == 2
    picks = [intake_views.read_pick(e["value"]) for e in actions["elements"]]
    assert picks == [
        intake_views.Pick("integrations", "1.1", "1.2", GUESS),
        intake_views.Pick("infrastructure", "1.1", "1.2", GUESS),
    ]
    shown = str(blocks)
    assert "<!channel>" not in shown and "&lt;!channel&gt;" in shown and "<@U00000015>" in shown
    assert "Integrations or Infrastructure" in text
    junk_values = (None, "", "integrations", "[]", '{"team": 1}', '{"team": "a", "thread": "1.1", "message": "1.2"}')
    for junk in (*junk_values, "x" * 3000):
        assert intake_views.read_pick(junk) is None


def test_the_classifiers_guess_comes_back_with_the_pick_as_open_filing_keeps_it() -> None:
    policy = example_policy()
    pick = intake_views.read_pick(intake_views.pick_value(intake_views.Pick("infrastructure", "1.1", "1.2", GUESS)))
    assert pick is not None
    guess = [pick.guess.team, pick.guess.runner_up, pick.guess.confidence, list(pick.guess.matched)]
    assert asked_choice(policy, guess) == TeamChoice(
        "integrations", "model", ("sync",), 0.41, "infrastructure", unsure=True
    )
    assert asked_choice(policy, ["integrations", "no-such-team", 0.4, []]) is None
    assert asked_choice(policy, []) is None


def test_of_claims_at_the_same_moment_one_wins(db: Database) -> None:
    start = threading.Barrier(6)

    def claim(n: int) -> bool:
        start.wait()
        return claim_thread(db, "C00000006", "1700000000.000100", f"U0000000{n}", f"wf-{n}").ours

    with ThreadPoolExecutor(max_workers=6) as pool:
        won = list(pool.map(claim, range(6)))
    assert won.count(True) == 1
    with db.session() as session:
        [row] = session.exec(select(IntakeThread)).all()
        winner = row.reacted_by
    assert winner == f"U0000000{won.index(True)}"
    # the winner's own step, run again (DBOS had not recorded it), still holds it; any other workflow does not,
    # not even another attempt of the same person (each reaction is an attempt of its own)
    assert claim_thread(db, "C00000006", "1700000000.000100", winner, f"wf-{won.index(True)}").ours
    assert not claim_thread(db, "C00000006", "1700000000.000100", winner, "wf-99").ours
    assert not claim_thread(db, "C00000006", "1700000000.000100", "U00000099", "wf-98").ours
    assert claim_thread(db, "C00000006", "1700000000.000999", "U00000099", "wf-98").ours  # another thread


def test_a_filed_thread_is_never_claimed_again(db: Database) -> None:
    assert claim_thread(db, "C00000006", "1700000000.000100", "U00000015", "wf-1").ours
    with db.session() as session:
        req = Request(
            kind="escalation",
            status=RequestStatus.FILED,
            requester_email="hank@example.com",
            requester_slack_id="U00000015",
            summary="VPN is down",
        )
        session.add(req)
        session.flush()
        row = session.exec(select(IntakeThread)).one()
        row.request_id = req.id
        session.add(row)
        filed = req.id
    again = claim_thread(db, "C00000006", "1700000000.000100", "U00000015", "wf-1")
    assert not again.ours and again.request_id == filed
    assert release_thread(db, "C00000006", "1700000000.000100", "wf-1", pick=False) is None  # filed: kept
    assert not take_waiting(db, "C00000006", "1700000000.000100", "wf-2").ours
    with db.session() as session:
        assert session.exec(select(IntakeThread)).one().request_id == filed


THREAD = ("C00000006", "1700000000.000100")


def test_a_failed_attempt_gives_the_claim_up_and_a_later_one_takes_it(db: Database) -> None:
    assert claim_thread(db, *THREAD, "U00000015", "wf-1").ours
    assert release_thread(db, *THREAD, "wf-2", pick=False) is None  # not wf-2's to give up
    assert not claim_thread(db, *THREAD, "U00000009", "wf-2").ours
    assert release_thread(db, *THREAD, "wf-1", pick=False) is None
    with db.session() as session:
        assert session.exec(select(IntakeThread)).all() == []
    assert claim_thread(db, *THREAD, "U00000009", "wf-2").ours  # a later reaction
    assert not claim_thread(db, *THREAD, "U00000015", "wf-1").ours  # the failed attempt, run again, does not


def waiting_for_a_pick(db: Database) -> None:
    assert claim_thread(db, *THREAD, "U00000015", "wf-react").ours
    with db.session() as session:  # as `_ask` leaves it once the question is posted
        row = session.exec(select(IntakeThread)).one()
        row.claimed_by = None
        session.add(row)


def test_of_picks_at_the_same_moment_one_takes_the_claim_and_a_failed_one_leaves_it_waiting(db: Database) -> None:
    waiting_for_a_pick(db)
    start = threading.Barrier(6)

    def pick(n: int) -> bool:
        start.wait()
        return take_waiting(db, *THREAD, f"pick-{n}").ours

    with ThreadPoolExecutor(max_workers=6) as pool:
        won = list(pool.map(pick, range(6)))
    assert won.count(True) == 1
    winner = f"pick-{won.index(True)}"
    taken = take_waiting(db, *THREAD, winner)  # its step run again
    assert taken.ours and taken.reacted_by == "U00000015"
    assert not take_waiting(db, *THREAD, "pick-late").ours
    assert release_thread(db, *THREAD, "pick-late", pick=True) is None  # not its claim: nothing changes
    assert not take_waiting(db, *THREAD, "pick-later").ours
    assert release_thread(db, *THREAD, winner, pick=True) is None  # its filing failed: waiting again
    with db.session() as session:
        row = session.exec(select(IntakeThread)).one()
        assert (row.claimed_by, row.reacted_by, row.request_id) == (None, "U00000015", None)
    assert take_waiting(db, *THREAD, "pick-later").ours  # a later click takes it
