"""Triage accuracy and cost: the team classifier against the keyword triage it replaces, on requests written by
other people than the ones it learnt from.

- Grouped 5-fold cross-validation over the shipped examples (`workflows/tickets/examples/`): rewordings of one
  request never sit on both sides of a split; the policy's own keywords and descriptions are learnt in every fold.
- Leave one source out: each shipped file (written independently of the others) predicted by a model that
  learnt from the other files only.
- The held-out part (`bench/data/triage_heldout.jsonl`, a separate writer; never trained on, never tuned on):
  predicted by the model fitted on every shipped example, as `engops triage retrain` fits it.
- Asking when unsure: the share of requests the requester is asked about, and how many are filed right when the
  requester picks from the two likeliest teams.
- Corrections: for each source, the misrouted requests of half its groups are recorded as corrections (a DRI
  relabelled them); the other half is predicted without and with learning from them.
- Cost: loading the model, classifying one request, and whether serving imports the training library.

    .venv/bin/python bench/triage_accuracy.py [--misses]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.policy import Policy, load_policy  # noqa: E402
from engops.triage_training import (  # noqa: E402
    CORRECTION_WEIGHT,
    Example,
    Trainer,
    cross_validate,
    policy_concepts,
    policy_examples,
    shipped_examples,
)
from workflows.tickets import team_model, triage  # noqa: E402
from workflows.tickets.model_store import SHIPPED_MODEL  # noqa: E402

HELD_OUT = ROOT / "bench" / "data" / "triage_heldout.jsonl"
POLICY = ROOT / "policy.example.yaml"


def held_out_rows() -> list[Example]:
    rows = [json.loads(line) for line in HELD_OUT.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Example(r["summary"], r.get("details", ""), r["team"], r["group"], "heldout") for r in rows]


def keyword_team(policy: Policy, e: Example) -> str:
    return triage.choose_team(policy, chosen=None, channel_name=None, summary=e.summary, details=e.details).team


def report(title: str, rows: Sequence[Example], predicted: Sequence[str], teams: list[str]) -> float:
    right = sum(1 for e, p in zip(rows, predicted, strict=True) if e.team == p)
    accuracy = right / len(rows)
    print(f"\n### {title}: {right}/{len(rows)} = {accuracy:.1%}\n")
    pairs = Counter((e.team, p) for e, p in zip(rows, predicted, strict=True))
    print("| team | precision | recall | " + " | ".join(f"→ {t}" for t in teams) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in teams) + " |")
    for team in teams:
        chosen = sum(pairs[(t, team)] for t in teams)
        actual = sum(pairs[(team, t)] for t in teams)
        precision = pairs[(team, team)] / chosen if chosen else 0.0
        recall = pairs[(team, team)] / actual if actual else 0.0
        cells = " | ".join(str(pairs[(team, t)]) for t in teams)
        print(f"| {team} | {precision:.1%} | {recall:.1%} | {cells} |")
    return accuracy


def asked(model: team_model.TeamModel, rows: Sequence[Example]) -> tuple[int, int]:
    """(how many would be asked about, how many end in the right tracker when the requester picks from two)."""
    asked_about = right = 0
    for e in rows:
        guess = model.predict(e.summary, e.details)
        if guess.unsure:
            asked_about += 1
            right += e.team in (guess.team, guess.runner_up)
        else:
            right += e.team == guess.team
    return asked_about, right


def corrections_effect(trainer: Trainer, shipped: list[Example], own: list[Example]) -> None:
    print("\n### Learning from corrections (per source: half its groups corrected, the other half predicted)\n")
    print("| source | predicted | right without corrections | corrections recorded | right with them |")
    print("| --- | --- | --- | --- | --- |")
    for source in sorted({e.source for e in shipped}):
        rest = [e for e in shipped if e.source != source]
        mine = [e for e in shipped if e.source == source]
        groups = sorted({e.group for e in mine})
        first = set(groups[::2])
        seen, unseen = [e for e in mine if e.group in first], [e for e in mine if e.group not in first]
        before = trainer.fit(rest + own, calibrate=False)
        corrections = [
            replace(e, source="correction", weight=CORRECTION_WEIGHT)
            for e in seen
            if before.predict(e.summary, e.details).team != e.team
        ]
        after = trainer.fit(rest + own + corrections, calibrate=False)
        right_before = sum(1 for e in unseen if before.predict(e.summary, e.details).team == e.team)
        right_after = sum(1 for e in unseen if after.predict(e.summary, e.details).team == e.team)
        print(
            f"| {source} | {len(unseen)} | {right_before / len(unseen):.1%} | {len(corrections)} | "
            f"{right_after / len(unseen):.1%} |"
        )


def cost(model_blob: bytes, rows: Sequence[Example]) -> None:
    loads = []
    for _ in range(20):
        start = time.perf_counter()
        model = team_model.load(model_blob)
        loads.append(time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(10):
        for e in rows:
            model.predict(e.summary, e.details)
    per_request = (time.perf_counter() - start) / (10 * len(rows))
    probe = "import sys, engops.app, workflows.registry; print('sklearn' in sys.modules, 'numpy' in sys.modules)"
    imported = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    print("\n### Cost\n")
    print(f"- model: {len(model_blob) / 1024:.0f} KiB stored, {len(model.weights)} features")
    print(f"- load: median {statistics.median(loads) * 1000:.1f} ms, worst {max(loads) * 1000:.1f} ms (20 loads)")
    print(f"- classify: {per_request * 1000:.2f} ms per request (mean over {10 * len(rows)})")
    print(f"- serving imports scikit-learn / numpy: {imported.stdout.strip()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="list the held-out requests routed wrongly")
    args = parser.parse_args(argv)
    policy = load_policy(POLICY)
    teams = list(policy.teams)
    shipped, own, held = shipped_examples(teams), policy_examples(policy), held_out_rows()
    trainer = Trainer(teams, policy_concepts(policy))
    sources = Counter(e.source for e in shipped)
    print(
        f"## Triage: {len(shipped)} shipped examples from {len(sources)} sources {dict(sources)}; {len(held)} held out"
    )

    cv = report(
        "Grouped 5-fold cross-validation, shipped examples",
        shipped,
        cross_validate(trainer, shipped, train_only=own),
        teams,
    )
    print("\n### Leave one source out\n")
    print("| source | requests | model | keywords |")
    print("| --- | --- | --- | --- |")
    for source in sorted(sources):
        mine = [e for e in shipped if e.source == source]
        model = trainer.fit([e for e in shipped if e.source != source] + own, calibrate=False)
        right = sum(1 for e in mine if model.predict(e.summary, e.details).team == e.team)
        by_keywords = sum(1 for e in mine if keyword_team(policy, e) == e.team)
        print(f"| {source} | {len(mine)} | {right / len(mine):.1%} | {by_keywords / len(mine):.1%} |")

    fitted = trainer.fit(shipped + own)
    predicted = [fitted.predict(e.summary, e.details).team for e in held]
    held_accuracy = report("Held-out part (never trained on)", held, predicted, teams)
    keywords = sum(1 for e in held if keyword_team(policy, e) == e.team) / len(held)
    print(f"\nthe keyword triage of release 2 on the same held-out part: {keywords:.1%}")
    asked_about, right = asked(fitted, held)
    print(
        f"asking below {team_model.UNSURE_BELOW:.0%} confidence: {asked_about} of {len(held)} asked; "
        f"{right / len(held):.1%} end in the right tracker"
    )
    if args.misses:
        for e, p in zip(held, predicted, strict=True):
            if e.team != p:
                print(f"  {e.group}: {e.summary!r}: expected {e.team}, got {p}")

    corrections_effect(trainer, shipped, own)
    blob = (ROOT / "workflows" / "tickets" / "examples" / SHIPPED_MODEL).read_bytes()
    cost(blob, held)
    print(f"\nsummary: cross-validated {cv:.1%}, held-out {held_accuracy:.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
