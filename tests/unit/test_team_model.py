"""The team classifier: the shipped model, the stored form, training, and what triage does with a model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.policy import Policy, load_policy
from engops import triage_retrain, triage_training
from engops.triage_training import Example, Trainer
from workflows.tickets import model_store, team_model, triage

ROOT = Path(__file__).resolve().parents[2]
HELD_OUT = ROOT / "bench" / "data" / "triage_heldout.jsonl"


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(ROOT / "policy.example.yaml")


def test_the_shipped_model_was_fitted_on_the_shipped_examples_for_the_example_policy(policy: Policy) -> None:
    shipped = model_store.shipped_model()
    assert shipped is not None, "run `engops triage retrain --ship`"
    assert shipped.meta["examples"] == triage_retrain.examples_digest(), (
        "the shipped examples changed: run `engops triage retrain --ship` and commit workflows/tickets/examples/"
    )
    assert shipped.meta["teams_fingerprint"] == model_store.teams_fingerprint(policy)


def test_the_shipped_model_files_the_held_out_requests_in_the_right_team(policy: Policy) -> None:
    """The benchmark's held-out set (never trained on): a regression guard, not the benchmark."""
    shipped = model_store.shipped_model()
    assert shipped is not None
    rows = [json.loads(line) for line in HELD_OUT.read_text().splitlines() if line.strip()]
    assert len(rows) >= 150
    right = sum(1 for r in rows if shipped.predict(r["summary"], r.get("details", "")).team == r["team"])
    assert right / len(rows) >= 0.95


def test_a_stored_model_scores_as_the_fitted_one(policy: Policy) -> None:
    trainer = Trainer(list(policy.teams), triage_training.policy_concepts(policy))
    model = trainer.fit(_tiny_examples(), calibrate=False)
    again = team_model.load(team_model.dump(model), version=7)
    for summary in ("netsuite invoices stopped syncing", "laptop screen cracked", "okta verify on new phone"):
        first, second = model.predict(summary, ""), again.predict(summary, "")
        assert first.team == second.team
        assert first.confidence == pytest.approx(second.confidence, abs=1e-3)
    assert again.version == 7


def test_training_learns_the_examples_and_says_why(policy: Policy) -> None:
    trainer = Trainer(list(policy.teams), triage_training.policy_concepts(policy))
    model = trainer.fit(_tiny_examples(), calibrate=False)
    guess = model.predict("the zuora to netsuite sync dropped invoices", "")
    assert guess.team == "integrations"
    assert {"netsuite", "sync"} & set(guess.reasons)
    assert "need" not in guess.reasons


def test_a_team_without_examples_never_wins(policy: Policy) -> None:
    trainer = Trainer(list(policy.teams), triage_training.policy_concepts(policy))
    model = trainer.fit([e for e in _tiny_examples() if e.team != "infrastructure"], calibrate=False)
    for text in ("terraform vpc dns bucket", "aws instance cost tags"):
        assert model.predict(text, "").team != "infrastructure"


def test_cross_validation_never_tests_on_a_group_it_learnt(policy: Policy) -> None:
    trainer = Trainer(list(policy.teams), triage_training.policy_concepts(policy))
    # Two rewordings of one request, labelled unlike anything else: learnt from one, the other would be right.
    odd = [Example("purple elephant parade", "", "infrastructure", "odd", "t")] * 2
    rows = _tiny_examples() + odd
    predictions = triage_training.cross_validate(trainer, rows, folds=3)
    assert predictions[-1] != "infrastructure" and predictions[-2] != "infrastructure"


def test_triage_uses_the_model_only_for_the_teams_it_was_trained_for(policy: Policy) -> None:
    trainer = Trainer(["integrations", "operations"], triage_training.policy_concepts(policy))
    model = trainer.fit([e for e in _tiny_examples() if e.team in ("integrations", "operations")], calibrate=False)
    choice = triage.choose_team(
        policy, chosen=None, channel_name=None, summary="okta verify on my new phone", details="", model=model
    )
    assert choice.how == "keywords" and choice.team == "access-management"


def test_triage_says_how_sure_the_model_is(policy: Policy) -> None:
    shipped = model_store.shipped_model()
    choice = triage.choose_team(
        policy,
        chosen=None,
        channel_name=None,
        summary="NetSuite invoices from Zuora stopped syncing",
        details="the Workato recipe fails since Monday",
        model=shipped,
    )
    assert choice.how == "model" and choice.team == "integrations" and not choice.unsure
    assert choice.confidence is not None and choice.confidence > team_model.UNSURE_BELOW
    text = choice.describe("Enterprise Applications Integrations")
    assert "matched:" in text and "% sure" in text


def test_policy_descriptions_and_examples_are_learnt(policy: Policy) -> None:
    rows = triage_training.policy_examples(policy)
    assert {r.team for r in rows} == set(policy.teams)
    assert any(r.summary.startswith("The cloud the company runs on") for r in rows)  # the shipped description


def _tiny_examples() -> list[Example]:
    texts = {
        "access-management": ["okta verify on my new phone", "need access to the finance group", "sso loop on figma"],
        "infrastructure": ["terraform plan fails on the vpc", "dns record for the new site", "aws bucket cost"],
        "integrations": ["workato recipe failing", "netsuite sync from salesforce broken", "zuora invoices sync"],
        "operations": ["laptop screen cracked", "gmail signature", "google drive shared folder full"],
    }
    return [
        Example(text, "", team, f"{team}-{i}", "tiny") for team, rows in texts.items() for i, text in enumerate(rows)
    ]
