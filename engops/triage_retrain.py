"""`engops triage retrain` (and the scheduled retrain, which runs that command in a process of its own): learn
from the shipped examples, the policy and the recorded corrections; measure; make the new model live.

Measuring: grouped cross-validation over the shipped examples and the corrections, twice on the same folds,
once learning from the corrections and once not, so the figure printed says what the corrections changed.
`--ship` writes the model fitted for the example policy into the package instead (the model a new install
uses until it retrains).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from bot.db.engine import Database
from bot.policy import Policy
from engops.triage_training import (
    CORRECTION_WEIGHT,
    Example,
    Trainer,
    accuracy,
    cross_validate,
    policy_concepts,
    policy_examples,
    shipped_examples,
)
from workflows.tickets import model_store, team_model
from workflows.tickets.corrections import recorded_corrections
from workflows.tickets.model_store import StoredModel, make_live, teams_fingerprint

Progress = Callable[[str], None]
MIN_GROUPS_TO_MEASURE = 10  # fewer labelled requests than this say nothing about accuracy


class CannotTrain(Exception):
    """Nothing to learn two teams apart from (a policy with fewer than two teams that have keywords, a description,
    examples or corrections)."""


@dataclass(frozen=True)
class Measured:
    examples: int
    corrections: int
    # grouped cross-validation over the labelled requests (shipped examples and corrections); None when there are
    # too few of them for these teams (a policy of your own before its first corrections)
    accuracy_without_corrections: float | None
    accuracy_with_corrections: float | None
    corrections_right_without: float  # of the corrected requests alone
    corrections_right_with: float

    def as_metrics(self) -> dict[str, object]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 4)

        return {
            "cv_accuracy_without_corrections": rounded(self.accuracy_without_corrections),
            "cv_accuracy_with_corrections": rounded(self.accuracy_with_corrections),
            "corrected_requests_right_without": round(self.corrections_right_without, 4),
            "corrected_requests_right_with": round(self.corrections_right_with, 4),
        }


@dataclass(frozen=True)
class Retrained:
    stored: StoredModel
    measured: Measured


def training_rows(db: Database | None, policy: Policy) -> tuple[list[Example], list[Example], list[Example]]:
    """(shipped examples, the policy's own, corrections) for the policy's teams."""
    teams = list(policy.teams)
    corrections: list[Example] = []
    if db is not None:
        corrections = [
            Example(
                c.summary, c.details, c.to_team, f"correction:{c.request_id}", "correction", weight=CORRECTION_WEIGHT
            )
            for c in recorded_corrections(db)
            if c.to_team in policy.teams
        ]
    return shipped_examples(teams), policy_examples(policy), corrections


def measure(trainer: Trainer, shipped: list[Example], own: list[Example], corrections: list[Example]) -> Measured:
    rows = shipped + corrections
    if len({e.group for e in rows}) < MIN_GROUPS_TO_MEASURE or len({e.team for e in rows + own}) < 2:
        return Measured(len(shipped) + len(own), len(corrections), None, None, 0.0, 0.0)
    with_them = cross_validate(trainer, rows, train_only=own)
    without = (
        cross_validate(trainer, rows, train_only=own, learn_from=lambda e: e.source != "correction")
        if corrections
        else with_them
    )
    corrected = [i for i, e in enumerate(rows) if e.source == "correction"]

    def right(predictions: list[str]) -> float:
        return sum(1 for i in corrected if rows[i].team == predictions[i]) / len(corrected) if corrected else 0.0

    return Measured(
        examples=len(shipped) + len(own),
        corrections=len(corrections),
        accuracy_without_corrections=accuracy(rows, without),
        accuracy_with_corrections=accuracy(rows, with_them),
        corrections_right_without=right(without),
        corrections_right_with=right(with_them),
    )


def retrain(db: Database, policy: Policy, *, by: str, progress: Progress = lambda _: None) -> Retrained:
    shipped, own, corrections = training_rows(db, policy)
    if len({e.team for e in shipped + own + corrections}) < 2:
        raise CannotTrain(
            "fewer than two teams have keywords, a description, examples or corrections to learn from; "
            "add `keywords`, `description` or `examples` to the policy's teams"
        )
    trainer = Trainer(list(policy.teams), policy_concepts(policy))
    progress(f"measuring: grouped cross-validation over {len(shipped)} examples and {len(corrections)} corrections")
    measured = measure(trainer, shipped, own, corrections)
    progress("fitting the model on all of them")
    model = trainer.fit(shipped + own + corrections)
    fingerprint = teams_fingerprint(policy)
    model = replace(model, meta={"teams_fingerprint": fingerprint})
    stored = make_live(
        db,
        model,
        fingerprint=fingerprint,
        examples=measured.examples,
        corrections=measured.corrections,
        metrics=measured.as_metrics(),
        trained_by=by,
    )
    return Retrained(stored, measured)


def examples_digest() -> str:
    """What the shipped model was fitted on: the shipped examples and descriptions, byte for byte."""
    digest = hashlib.sha256()
    folder = resources.files("workflows.tickets.examples")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".jsonl", ".yaml")):
            digest.update(entry.name.encode() + b"\0" + entry.read_bytes())
    return digest.hexdigest()[:16]


def fit_shipped(policy: Policy) -> team_model.TeamModel:
    shipped, own, _ = training_rows(None, policy)
    model = Trainer(list(policy.teams), policy_concepts(policy)).fit(shipped + own)
    return replace(model, meta={"teams_fingerprint": teams_fingerprint(policy), "examples": examples_digest()})


def write_shipped(policy: Policy) -> Path:
    """Fit the model a new install starts with and write it into the checkout's package folder."""
    path = Path(str(resources.files("workflows.tickets.examples").joinpath(model_store.SHIPPED_MODEL)))
    path.write_bytes(team_model.dump(fit_shipped(policy)))
    model_store.shipped_model.cache_clear()
    return path
