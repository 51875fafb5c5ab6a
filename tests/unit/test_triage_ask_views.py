"""Asking the requester which team when triage is unsure (SPEC §6.4), the pure parts: when to ask, the modal that
asks (it keeps the request's inputs under their ids, so Slack keeps what was entered), what it carries in
private_metadata, how its answer is checked, and the issue's line saying why the team was chosen."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.policy import Policy, load_policy
from bot.slack import triage_views
from workflows.tickets import triage
from workflows.tickets.details import TicketDetails
from workflows.tickets.filing_form import (
    asked_from,
    asked_metadata,
    check_pick,
    offered_teams,
    should_ask,
    team_blurb,
)
from workflows.tickets.issue_text import team_line

POLICY = Path(__file__).resolve().parents[2] / "policy.example.yaml"
UNSURE = triage.TeamChoice("integrations", "model", ("webhook",), 0.54, "infrastructure", unsure=True)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(POLICY)


def question(kind: str = "it_request", **fields: Any) -> dict[str, Any]:
    form = triage_views.RequestForm(
        kind=kind,
        teams=[],
        urgencies=[(value, label) for value, (label, _) in triage.URGENCIES.items()],
        not_sure=triage.NOT_SURE,
        default_urgency=fields.pop("urgency", "normal"),
        metadata=fields.pop("metadata", {"channel_id": "C1", **asked_metadata(UNSURE)}),
        **fields,
    )
    offered = [
        triage_views.TeamOption("integrations", "Enterprise Applications Integrations", "Takes: workato, sync"),
        triage_views.TeamOption("infrastructure", "Infrastructure", ""),
    ]
    return triage_views.team_question_modal(form, offered)


def inputs(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}


def test_only_an_unsure_classifier_asks() -> None:
    assert should_ask(UNSURE)
    assert not should_ask(triage.TeamChoice("integrations", "model", ("sync",), 0.91, "infrastructure"))
    for how in ("chosen", "channel", "keywords", "default"):
        assert not should_ask(triage.TeamChoice("integrations", how, unsure=True))
    assert not should_ask(triage.TeamChoice("integrations", "model", (), 0.5, None, unsure=True))  # one team only


def test_the_question_offers_the_two_teams_and_keeps_the_request_inputs() -> None:
    details = "é" * triage_views.DETAILS_MAX  # as long as the form allows
    view = question(summary="Terraform change for the webhook", details=details, urgency="high")
    assert view["callback_id"] == triage_views.IT_TEAM_CALLBACK
    blocks = inputs(view)
    pick = blocks[triage_views.TEAM_PICK]
    assert not pick.get("optional") and "initial_option" not in pick["element"]  # a deliberate choice
    options = pick["element"]["options"]
    assert [o["value"] for o in options] == ["integrations", "infrastructure"]
    assert options[0]["description"]["text"] == "Takes: workato, sync" and "description" not in options[1]
    # the same block and action ids as the request modal: Slack keeps what was entered when one replaces the other
    assert list(blocks) == [triage_views.TEAM_PICK, "summary", "details", "urgency"]
    assert all(b["element"]["action_id"] == block_id for block_id, b in blocks.items())
    assert blocks["summary"]["element"]["initial_value"] == "Terraform change for the webhook"
    assert blocks["details"]["element"]["initial_value"] == details  # whole: it is not carried in the metadata
    assert blocks["urgency"]["element"]["initial_option"]["value"] == "high"
    meta = json.loads(view["private_metadata"])
    assert meta["channel_id"] == "C1" and asked_from(meta, load_policy(POLICY)) == UNSURE
    assert "Enterprise Applications Integrations* or *Infrastructure*" in json.dumps(view["blocks"])


def test_an_escalation_question_keeps_its_source_and_ticket() -> None:
    view = question("escalation", source="Escalating a message by <@U1>", reference="HD-1234", details="Broken")
    assert view["callback_id"] == triage_views.ESCALATION_TEAM_CALLBACK
    assert view["blocks"][0]["block_id"] == "source"
    blocks = inputs(view)
    assert blocks["reference"]["element"]["initial_value"] == "HD-1234" and not blocks["details"].get("optional")


def test_metadata_that_does_not_fit_is_refused_not_cut() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        triage_views.private_metadata({"details": "x" * 3000})
    assert len(triage_views.private_metadata(asked_metadata(UNSURE))) < 300


def test_the_picked_team_is_read_from_the_radio_buttons() -> None:
    state = {"selected_option": {"value": "infrastructure", "text": {"type": "plain_text", "text": "Infrastructure"}}}
    view = {"state": {"values": {triage_views.TEAM_PICK: {triage_views.TEAM_PICK: state}}}}
    assert triage_views.picked_team(view) == "infrastructure"
    assert triage_views.picked_team({"state": {"values": {}}}) is None
    empty = {triage_views.TEAM_PICK: {triage_views.TEAM_PICK: {"type": "radio_buttons", "selected_option": None}}}
    assert triage_views.picked_team({"state": {"values": empty}}) is None


def test_the_answer_is_checked(policy: Policy) -> None:
    assert check_pick(UNSURE, "infrastructure") == {} and check_pick(UNSURE, "integrations") == {}
    assert "Pick the team" in check_pick(UNSURE, None)[triage_views.TEAM_PICK]
    assert "one of the two" in check_pick(UNSURE, "operations")[triage_views.TEAM_PICK]
    assert "no longer offered" in check_pick(None, "operations")[triage_views.TEAM_PICK]
    assert asked_from({}, policy) is None
    assert asked_from({"ask": {"team": "integrations", "runner_up": "gone"}}, policy) is None  # a team since removed
    assert asked_from({"ask": "garbage"}, policy) is None


def test_what_each_team_takes_in_one_line(policy: Policy) -> None:
    offered = offered_teams(policy, UNSURE)
    assert [(o.key, o.name) for o in offered] == [
        ("integrations", "Enterprise Applications Integrations"),
        ("infrastructure", "Infrastructure"),
    ]
    assert all(len(o.blurb) <= triage_views.OPTION_MAX for o in offered)
    team = policy.team("infrastructure")
    described = team.model_copy(update={"description": "Cloud accounts, networks\nand the rest of it"})
    assert team_blurb(described) == "Cloud accounts, networks"  # its first line
    long = team.model_copy(update={"description": "Everything in the cloud " * 10})
    assert len(team_blurb(long)) <= triage_views.OPTION_MAX and team_blurb(long).endswith("…")
    by_keywords = team.model_copy(update={"description": "", "keywords": ["aws", "gcp"]})
    assert team_blurb(by_keywords) == "Takes: aws, gcp"
    assert team_blurb(team.model_copy(update={"description": "", "keywords": []})) == ""


def test_the_issue_says_why_the_team(policy: Policy) -> None:
    names = {key: team.name for key, team in policy.teams.items()}

    def line(team: str, **stored: Any) -> str:
        return team_line(TicketDetails(team=team, **stored), policy.team(team), lambda k: names.get(k or "", str(k)))

    model = line("integrations", team_how="model", team_matched=["netsuite", "sync"], team_confidence=0.912)
    assert model == "Enterprise Applications Integrations (matched: netsuite, sync; 91% sure)"
    asked = line(
        "infrastructure",
        team_how="asked",
        team_matched=["webhook"],
        team_confidence=0.54,
        team_runner_up="infrastructure",
        team_guess="integrations",
    )
    assert asked == (
        "Infrastructure (chosen by the requester when triage was unsure); triage leaned to "
        "Enterprise Applications Integrations, 54% sure (matched: webhook) over Infrastructure"
    )
    assert line("operations", team_how="chosen") == "Operations (chosen in the form)"
    keywords = line("infrastructure", team_how="keywords", team_matched=["bucket"])
    assert keywords == "Infrastructure (matched: bucket)"


def test_the_classifier_view_is_stored_only_when_there_is_one() -> None:
    plain = TicketDetails(team="operations", team_how="chosen").model_dump()
    assert not {"team_confidence", "team_runner_up", "team_guess"} & set(plain)
    stored = TicketDetails(team="operations", team_how="model", team_confidence=0.9, team_runner_up="infrastructure")
    assert stored.model_dump()["team_confidence"] == 0.9
