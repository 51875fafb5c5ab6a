"""Fitting the team classifier (`engops triage retrain`, and the scheduled retrain): scikit-learn lives here only.

What it learns from:
- the shipped examples (`workflows/tickets/examples/*.jsonl`, labelled by docs/TRIAGE_LABELLING.md), for the
  teams the policy has;
- the policy itself: each team's `keywords`, `description` and `examples`, so a team of your own is learnt
  without code;
- the recorded corrections (a DRI moved a bot-filed issue to another team), the latest one per request.

The model is a multinomial logistic regression over `team_model.features` (tf-idf weighted), whose probabilities
are calibrated by one temperature fitted on out-of-fold scores. Cross-validation is grouped: rewordings of one
request (`group`) never sit on both sides of a split.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import yaml
from scipy.optimize import minimize_scalar
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from bot.policy import Policy
from workflows.tickets.keywords import ALIASES
from workflows.tickets.team_model import TeamModel, concepts_of, features

MIN_DF = 2  # a feature seen in one request only is noise (and bloats the stored model)
REGULARISATION_C = 10.0
FOLDS = 5
CORRECTION_WEIGHT = 5.0  # a DRI's correction is this organisation's own request, labelled by the team that knows


@dataclass(frozen=True)
class Example:
    summary: str
    details: str
    team: str
    group: str
    source: str  # a shipped file's name, "policy", or "correction"
    catch_all: bool = False
    weight: float = 1.0  # how much it counts in training (a DRI's correction counts for several examples)


def shipped_examples(teams: Iterable[str] | None = None) -> list[Example]:
    """The labelled requests shipped with the bot (for `teams` only, when given)."""
    wanted = set(teams) if teams is not None else None
    found: list[Example] = []
    folder = resources.files("workflows.tickets.examples")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".jsonl"):
            continue
        for number, line in enumerate(entry.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if wanted is not None and row["team"] not in wanted:
                continue
            found.append(
                Example(
                    summary=row["summary"],
                    details=row.get("details", ""),
                    team=row["team"],
                    group=row.get("group") or f"{entry.name}:{number}",
                    source=row.get("source") or entry.name.removesuffix(".jsonl"),
                    catch_all=bool(row.get("catch_all")),
                )
            )
    return found


def shipped_descriptions() -> dict[str, str]:
    """What each team of the example policy takes (`examples/teams.yaml`), by team key."""
    text = resources.files("workflows.tickets.examples").joinpath("teams.yaml").read_text(encoding="utf-8")
    return {str(k): str(v) for k, v in (yaml.safe_load(text) or {}).items()}


def policy_examples(policy: Policy) -> list[Example]:
    """What the policy says of each team: its keywords, its description (else the shipped one for a team of the
    same key) and its examples. A description counts whole and phrase by phrase."""
    shipped = shipped_descriptions()
    found: list[Example] = []
    for key, team in policy.teams.items():
        description = team.description or shipped.get(key, "")
        phrases = [p.strip(" *") for p in _PHRASE_BREAK.split(description) if len(p.strip(" *")) > 3]
        texts = [*team.keywords, *([description] if description else []), *phrases, *team.examples]
        found += [Example(text, "", key, f"policy:{key}:{i}", "policy") for i, text in enumerate(texts)]
    return found


_PHRASE_BREAK = re.compile(r"[,;.:()]|\band\b")


def policy_concepts(policy: Policy) -> tuple[str, ...]:
    return concepts_of(k for team in policy.teams.values() for k in team.keywords)


# --- fitting -------------------------------------------------------------------------------------
@dataclass
class _Design:
    names: list[str]
    matrix: csr_matrix
    idf: np.ndarray


def _design(counts: Sequence[Counter[str]], names: list[str] | None = None, idf: np.ndarray | None = None) -> _Design:
    """tf-idf rows over `names` (chosen from `counts` when not given: features in at least MIN_DF rows, every
    keyword feature kept), L2-normalised as `team_model.weigh` does."""
    if names is None:
        df = Counter(f for c in counts for f in c)
        names = sorted(f for f, n in df.items() if n >= MIN_DF or f.startswith("k:"))
        index = {f: i for i, f in enumerate(names)}
        n = len(counts)
        idf = np.array([math.log((1 + n) / (1 + df[f])) + 1.0 for f in names])
    assert idf is not None
    index = {f: i for i, f in enumerate(names)}
    rows, cols, values = [], [], []
    for r, c in enumerate(counts):
        kept = [(index[f], (1.0 + math.log(v)) * idf[index[f]]) for f, v in c.items() if f in index and v > 0]
        norm = math.sqrt(sum(v * v for _, v in kept)) or 1.0
        for col, v in kept:
            rows.append(r)
            cols.append(col)
            values.append(v / norm)
    matrix = csr_matrix((values, (rows, cols)), shape=(len(counts), len(names)))
    return _Design(names, matrix, idf)


def _fit_linear(design: _Design, labels: Sequence[int], weights: Sequence[float] | None = None) -> LogisticRegression:
    # newton-cg solves the same problem as the default lbfgs here, 100x faster (0.03 s against 2.7 s per fit)
    classifier = LogisticRegression(C=REGULARISATION_C, max_iter=1000, solver="newton-cg")
    classifier.fit(design.matrix, np.asarray(labels), sample_weight=None if weights is None else np.asarray(weights))
    return classifier


@dataclass
class Fitted:
    model: TeamModel
    out_of_fold: list[str] = field(default_factory=list)  # a prediction per training example (cross-validated)


class Trainer:
    def __init__(self, teams: Sequence[str], concepts: Sequence[str], aliases: dict[str, str] | None = None) -> None:
        self.teams = tuple(teams)
        self.concepts = tuple(concepts)
        self.aliases = dict(ALIASES if aliases is None else aliases)

        self._counts: dict[Example, Counter[str]] = {}

    def counts(self, examples: Sequence[Example]) -> list[Counter[str]]:
        """Each example's features, worked out once per trainer (cross-validation asks again for every fold)."""
        for e in examples:
            if e not in self._counts:
                self._counts[e] = features(e.summary, e.details, self.concepts, self.aliases)
        return [self._counts[e] for e in examples]

    def fit(self, examples: Sequence[Example], *, calibrate: bool = True) -> TeamModel:
        counts = self.counts(examples)
        labels = [self.teams.index(e.team) for e in examples]
        temperature = self._temperature(examples, counts, labels) if calibrate else 1.0
        design = _design(counts)
        classifier = _fit_linear(design, labels, [e.weight for e in examples])
        return self._model(design, classifier, temperature)

    def _model(self, design: _Design, classifier: LogisticRegression, temperature: float) -> TeamModel:
        coef = self._per_team(classifier.coef_, classifier.classes_)
        intercepts = self._per_team(classifier.intercept_[:, None], classifier.classes_)[:, 0]
        weights = {name: [float(w) for w in coef[:, i]] for i, name in enumerate(design.names)}
        return TeamModel(
            version=0,
            teams=self.teams,
            concepts=self.concepts,
            aliases=self.aliases,
            idf={name: float(design.idf[i]) for i, name in enumerate(design.names)},
            weights=weights,
            intercepts=[float(b) for b in intercepts],
            temperature=temperature,
        )

    def _per_team(self, rows: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """One row per team in policy order; a team with no examples never wins (a very low score)."""
        out = np.full((len(self.teams), rows.shape[1]), 0.0)
        if len(classes) == 2:  # scikit-learn keeps one row for two classes
            rows = np.vstack([-rows[0] / 2, rows[0] / 2])
        for row, cls in zip(rows, classes, strict=True):
            out[int(cls)] = row
        for missing in set(range(len(self.teams))) - {int(c) for c in classes}:
            out[missing] = 0.0
            if rows.shape[1] == 1:
                out[missing, 0] = -50.0
        return out

    def _temperature(self, examples: Sequence[Example], counts: list[Counter[str]], labels: list[int]) -> float:
        """The temperature that makes out-of-fold probabilities honest (least log-loss)."""
        scores, truth = self._out_of_fold_scores(examples, counts, labels)
        if not truth:
            return 1.0

        def loss(t: float) -> float:
            z = scores / t
            z = z - z.max(axis=1, keepdims=True)
            log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            return float(-log_p[np.arange(len(truth)), truth].mean())

        best = minimize_scalar(loss, bounds=(0.05, 20.0), method="bounded")
        return float(best.x)

    def _out_of_fold_scores(
        self, examples: Sequence[Example], counts: list[Counter[str]], labels: list[int]
    ) -> tuple[np.ndarray, list[int]]:
        groups = [e.group for e in examples]
        folds = min(FOLDS, len(set(groups)))
        if folds < 2 or len(set(labels)) < 2:
            return np.zeros((0, len(self.teams))), []
        scores = np.zeros((len(examples), len(self.teams)))
        for train, test in GroupKFold(n_splits=folds).split(counts, labels, groups):
            if len({labels[i] for i in train}) < 2:
                continue  # nothing to tell apart in this fold: its rows keep even scores
            design = _design([counts[i] for i in train])
            classifier = _fit_linear(design, [labels[i] for i in train], [examples[i].weight for i in train])
            test_design = _design([counts[i] for i in test], design.names, design.idf)
            raw = classifier.decision_function(test_design.matrix)
            if raw.ndim == 1:
                raw = np.vstack([-raw / 2, raw / 2]).T
            full = np.full((len(test), len(self.teams)), -50.0)
            for j, cls in enumerate(classifier.classes_):
                full[:, int(cls)] = raw[:, j]
            scores[test] = full
        return scores, labels


# --- measuring -----------------------------------------------------------------------------------
def cross_validate(
    trainer: Trainer,
    examples: Sequence[Example],
    *,
    train_only: Sequence[Example] = (),
    learn_from: Callable[[Example], bool] = lambda e: True,
    folds: int = FOLDS,
) -> list[str]:
    """A prediction for each of `examples` by a model that never saw its group. `train_only` rows are added to
    every training fold; `learn_from` says which of the fold's own rows may be learnt from (to measure without
    the corrections, on the same folds)."""
    groups = [e.group for e in examples]
    predictions = [""] * len(examples)
    for train, test in GroupKFold(n_splits=min(folds, len(set(groups)))).split(examples, groups=groups):
        learnt = [examples[i] for i in train if learn_from(examples[i])] + list(train_only)
        if len({e.team for e in learnt}) < 2:  # one team to learn: it is every prediction
            for i in test:
                predictions[i] = learnt[0].team if learnt else ""
            continue
        model = trainer.fit(learnt, calibrate=False)
        for i in test:
            predictions[i] = model.predict(examples[i].summary, examples[i].details).team
    return predictions


def accuracy(examples: Sequence[Example], predictions: Sequence[str]) -> float:
    if not examples:
        return 0.0
    return sum(1 for e, p in zip(examples, predictions, strict=True) if e.team == p) / len(examples)
