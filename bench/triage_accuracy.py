"""Triage accuracy on the labelled IT requests in tests/data/it_requests.jsonl.

Runs the same routing as `/it` (form choice, channel, keywords, default team) with the example
policy, and prints accuracy and the confusion matrix for the held-out part and for all of it.
`--no-aliases` shows what the policy's keywords alone (with stemming) achieve.

    .venv/bin/python bench/triage_accuracy.py [--no-aliases] [--misses]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.policy import Policy, load_policy  # noqa: E402
from workflows.tickets import triage  # noqa: E402

DATA = ROOT / "tests" / "data" / "it_requests.jsonl"
POLICY = ROOT / "policy.example.yaml"


def load_rows(path: Path = DATA) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def predict(policy: Policy, row: dict[str, Any], *, aliases: bool = True) -> str:
    if not aliases:
        chosen = row.get("choice")
        channel_team = policy.team_for_channel(row["channel"]) if row.get("channel") else None
        if chosen:
            return str(chosen)
        if channel_team is not None:
            return channel_team.key
        keywords = {key: list(team.keywords) for key, team in policy.teams.items()}
        return triage.classify(
            keywords, row["summary"], row["details"], default=policy.default_team.key, aliases={}
        ).team
    return triage.choose_team(
        policy,
        chosen=row.get("choice"),
        channel_name=row.get("channel"),
        summary=row["summary"],
        details=row["details"],
    ).team


def report(title: str, rows: list[dict[str, Any]], predictions: list[str], teams: list[str]) -> float:
    right = sum(1 for row, got in zip(rows, predictions, strict=True) if row["team"] == got)
    accuracy = right / len(rows) if rows else 0.0
    print(f"\n{title}: {right}/{len(rows)} = {accuracy:.1%}")
    pairs = Counter((row["team"], got) for row, got in zip(rows, predictions, strict=True))
    short = {t: t.split("-")[0][:6] for t in teams}
    width = max(len(t) for t in teams) + 2
    print("expected \\ predicted".ljust(width) + "".join(short[t].rjust(8) for t in teams))
    for expected in teams:
        print(expected.ljust(width) + "".join(str(pairs[(expected, got)]).rjust(8) for got in teams))
    return accuracy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-aliases", action="store_true", help="policy keywords only (no IT vocabulary)")
    parser.add_argument("--misses", action="store_true", help="list the requests routed wrongly")
    args = parser.parse_args(argv)
    policy = load_policy(POLICY)
    rows = load_rows()
    teams = list(policy.teams)
    predictions = [predict(policy, row, aliases=not args.no_aliases) for row in rows]
    held = [(r, p) for r, p in zip(rows, predictions, strict=True) if r["split"] == "heldout"]
    mode = "policy keywords only" if args.no_aliases else "keywords + IT vocabulary"
    print(f"triage accuracy ({mode}); {len(rows)} requests, {len(held)} held out")
    report("held-out", [r for r, _ in held], [p for _, p in held], teams)
    accuracy = report("all", rows, predictions, teams)
    if args.misses:
        print("\nmisses:")
        for row, got in zip(rows, predictions, strict=True):
            if row["team"] != got:
                print(f"  #{row['id']} [{row['split']}] {row['summary']!r}: expected {row['team']}, got {got}")
    return 0 if accuracy >= 0.9 else 1


if __name__ == "__main__":
    raise SystemExit(main())
