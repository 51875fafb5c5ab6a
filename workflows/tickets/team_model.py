"""The team classifier as the serving processes use it: fitted weights and a pure-Python scorer (SPEC §6.4).

Training (`engops triage retrain`, `engops/triage_training.py`) needs scikit-learn; serving does not import it. A
fitted model is a JSON document: the policy keywords (concepts) it looked for, an idf and one weight per team for
every feature it kept, an intercept per team and a temperature that calibrates the probabilities. `features` is
the one featurizer both sides use, so a request scores the same in training and in Slack.

Features of a request (the summary counts twice, as a person's title says most):
- `w:<stem>` and `b:<stem>_<stem>`: words and word pairs, lightly stemmed;
- `k:<concept>`: a policy keyword (or an IT alias of one, `triage.ALIASES`) found in the text.
Values are sublinear term frequencies times idf, L2-normalised; scores are softmax(w·x + b) / temperature.
(Character n-grams were tried: on the shipped examples they cost 3x the training time and a model 4x the size,
for no better accuracy, grouped cross-validation 89.7 % against 90.5 %.)
"""

from __future__ import annotations

import json
import math
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workflows.tickets.keywords import concepts_in, phrase, stems

FORMAT = 1
UNSURE_BELOW = 0.6  # the likeliest team's probability under which the requester is asked to choose
SUMMARY_WEIGHT = 2
REASONS = 3
# Words that weigh, but say nothing to a person reading why ("matched: need, please" explains nothing).
_NOT_A_REASON = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "be",
        "but",
        "can",
        "call",
        "could",
        "do",
        "for",
        "from",
        "get",
        "got",
        "has",
        "have",
        "hello",
        "help",
        "hi",
        "i",
        "in",
        "is",
        "it",
        "me",
        "my",
        "need",
        "now",
        "of",
        "on",
        "or",
        "our",
        "please",
        "pls",
        "so",
        "the",
        "there",
        "this",
        "to",
        "today",
        "want",
        "we",
        "what",
        "when",
        "with",
        "would",
        "you",
        "",
    }
)


def features(summary: str, details: str, concepts: Sequence[str], aliases: Mapping[str, str]) -> Counter[str]:
    """Raw feature counts of a request (see the module docstring)."""
    counts: Counter[str] = Counter()
    known = {phrase(c) for c in concepts}
    usable = {phrase(a): phrase(c) for a, c in aliases.items() if phrase(c) in known}
    for text, weight in ((summary, SUMMARY_WEIGHT), (details, 1)):
        words = stems(text)
        for word in words:
            counts[f"w:{word}"] += weight
        for first, second in zip(words, words[1:], strict=False):
            counts[f"b:{first}_{second}"] += weight
        for concept in concepts_in(words, known, usable):
            counts["k:" + " ".join(concept)] += weight
    return counts


def weigh(counts: Mapping[str, float], idf: Mapping[str, float]) -> dict[str, float]:
    """Sublinear tf times idf over the kept features, L2-normalised."""
    values = {f: (1.0 + math.log(n)) * idf[f] for f, n in counts.items() if n > 0 and f in idf}
    norm = math.sqrt(sum(v * v for v in values.values()))
    return {f: v / norm for f, v in values.items()} if norm else values


@dataclass(frozen=True)
class Prediction:
    ranked: tuple[tuple[str, float], ...]  # (team, probability), likeliest first
    reasons: tuple[str, ...]  # the words and keywords that weighed most for the likeliest team

    @property
    def team(self) -> str:
        return self.ranked[0][0]

    @property
    def confidence(self) -> float:
        return self.ranked[0][1]

    @property
    def runner_up(self) -> str | None:
        return self.ranked[1][0] if len(self.ranked) > 1 else None

    @property
    def unsure(self) -> bool:
        return self.confidence < UNSURE_BELOW


@dataclass(frozen=True)
class TeamModel:
    version: int  # the triage_model row it came from (0 when not stored)
    teams: tuple[str, ...]
    concepts: tuple[str, ...]
    aliases: Mapping[str, str]
    idf: Mapping[str, float]
    weights: Mapping[str, Sequence[float]]  # feature -> one weight per team
    intercepts: Sequence[float]
    temperature: float = 1.0
    meta: Mapping[str, str] = field(default_factory=dict)  # what it was trained for and on (`teams_fingerprint`, ...)

    def predict(self, summary: str, details: str) -> Prediction:
        x = weigh(features(summary, details, self.concepts, self.aliases), self.idf)
        scores = list(self.intercepts)
        for feature, value in x.items():
            row = self.weights.get(feature)
            if row is not None:
                for i, w in enumerate(row):
                    scores[i] += value * w
        probabilities = _softmax([s / self.temperature for s in scores])
        order = sorted(range(len(self.teams)), key=lambda i: probabilities[i], reverse=True)
        ranked = tuple((self.teams[i], probabilities[i]) for i in order)
        return Prediction(ranked, self._reasons(x, order))

    def _reasons(self, x: Mapping[str, float], order: Sequence[int]) -> tuple[str, ...]:
        """The keywords and words that most favour the likeliest team over the runner-up."""
        if len(order) < 2:
            return ()
        top, second = order[0], order[1]
        weighed: list[tuple[float, str]] = []
        for feature, value in x.items():
            row = self.weights.get(feature)
            if row is None or feature[:2] not in ("k:", "w:") or feature[2:] in _NOT_A_REASON:
                continue
            push = value * (row[top] - row[second])
            if push > 0:
                weighed.append((push * (2.0 if feature.startswith("k:") else 1.0), feature[2:]))
        shown: list[str] = []
        for _, word in sorted(weighed, reverse=True):
            if not any(word in s or s in word for s in shown):
                shown.append(word)
            if len(shown) == REASONS:
                break
        return tuple(shown)


def _softmax(scores: Sequence[float]) -> list[float]:
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


# --- the stored form -----------------------------------------------------------------------------
def dump(model: TeamModel) -> bytes:
    document: dict[str, Any] = {
        "format": FORMAT,
        "teams": list(model.teams),
        "concepts": list(model.concepts),
        "aliases": dict(model.aliases),
        "intercepts": [round(b, 6) for b in model.intercepts],
        "temperature": model.temperature,
        "meta": dict(model.meta),
        "features": {f: [round(model.idf[f], 5), *(round(w, 5) for w in ws)] for f, ws in model.weights.items()},
    }
    return zlib.compress(json.dumps(document, separators=(",", ":")).encode(), 6)


def load(blob: bytes, version: int = 0) -> TeamModel:
    document = json.loads(zlib.decompress(blob))
    if document.get("format") != FORMAT:
        raise ValueError(f"triage model format {document.get('format')!r} is not {FORMAT}")
    table: dict[str, list[float]] = document["features"]
    return TeamModel(
        version=version,
        teams=tuple(document["teams"]),
        concepts=tuple(document["concepts"]),
        aliases=document["aliases"],
        idf={f: row[0] for f, row in table.items()},
        weights={f: row[1:] for f, row in table.items()},
        intercepts=document["intercepts"],
        temperature=float(document["temperature"]),
        meta=document.get("meta", {}),
    )


def concepts_of(keywords: Iterable[str]) -> tuple[str, ...]:
    """A policy's keywords as the model looks for them (lower case, in order, once each)."""
    return tuple(dict.fromkeys(k.strip().lower() for k in keywords if k.strip()))
