"""Triage (SPEC §6.4): which team gets a request, its labels, and whether it is confidential.

Pure functions over the policy, the live team model and the request's text; they run on the ack path.

The team is the one chosen in the form; else the channel's team; else the team classifier's choice
(`team_model`: trained on labelled examples, the policy's keywords among its features, with a calibrated
confidence; under `team_model.UNSURE_BELOW` the requester is asked to pick between the two likeliest teams);
without a model for this policy, the best match of the teams' `keywords` (`keywords.py`) over the summary
(counted twice) and the details; else the `default` team.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.policy import Policy
from workflows.tickets.keywords import ALIASES, concepts_in, phrase, stem, stems
from workflows.tickets.team_model import TeamModel

__all__ = ["ALIASES", "stem"]

NOT_SURE = "not-sure"
URGENCIES: dict[str, tuple[str, int]] = {  # form value -> (label shown, GitLab priority::n)
    "urgent": ("Urgent — work is blocked", 1),
    "high": ("High", 2),
    "normal": ("Normal", 3),
    "low": ("Low", 4),
}
DEFAULT_URGENCY = "normal"
KIND_LABELS = {"it_request": "it-request", "escalation": "escalation"}
SUMMARY_WEIGHT = 2


@dataclass(frozen=True)
class TeamChoice:
    team: str  # the team's key in `teams:`
    how: str  # chosen | asked | channel | model | keywords | default
    matched: tuple[str, ...] = ()  # the keywords (or, for the model, the words) that decided it
    confidence: float | None = None  # the model's calibrated probability of `team`
    runner_up: str | None = None  # the model's second likeliest team
    unsure: bool = False  # the model's confidence is too low to file without asking

    def describe(self, team_name: str) -> str:
        if self.how == "chosen":
            return f"{team_name} (chosen in the form)"
        if self.how == "asked":
            return f"{team_name} (chosen by the requester when triage was unsure)"
        if self.how == "channel":
            return f"{team_name} (the channel's team)"
        if self.how in ("keywords", "model"):
            why = f"matched: {', '.join(self.matched)}" if self.matched else "the classifier's best guess"
            sure = f"; {self.confidence:.0%} sure" if self.confidence is not None else ""
            return f"{team_name} ({why}{sure})"
        return f"{team_name} (the default team: nothing matched)"


def choose_team(
    policy: Policy,
    *,
    chosen: str | None,
    channel_name: str | None,
    summary: str,
    details: str,
    model: TeamModel | None = None,
) -> TeamChoice:
    """`model` is the live team model for this policy (`model_store.live_model`), or None."""
    if chosen and chosen != NOT_SURE and chosen in policy.teams:
        return TeamChoice(chosen, "chosen")
    if channel_name:
        team = policy.team_for_channel(channel_name)
        if team is not None:
            return TeamChoice(team.key, "channel")
    if model is not None and set(model.teams) == set(policy.teams):
        guess = model.predict(summary, details)
        return TeamChoice(guess.team, "model", guess.reasons, round(guess.confidence, 3), guess.runner_up, guess.unsure)
    keywords = {key: list(team.keywords) for key, team in policy.teams.items()}
    return classify(keywords, summary, details, default=policy.default_team.key)


def classify(
    keywords: Mapping[str, Sequence[str]],
    summary: str,
    details: str,
    *,
    default: str,
    aliases: Mapping[str, str] = ALIASES,
) -> TeamChoice:
    """The team whose keywords match best; ties go to the team matched more in the summary, then to
    the one with more distinct keywords, then to the earlier team in the policy."""
    concepts = {phrase(k) for ks in keywords.values() for k in ks}
    usable = {phrase(alias): phrase(concept) for alias, concept in aliases.items() if phrase(concept) in concepts}
    in_summary = concepts_in(stems(summary), concepts, usable)
    in_details = concepts_in(stems(details), concepts, usable)
    best: tuple[int, int, int] | None = None
    choice = TeamChoice(default, "default")
    for team, words in keywords.items():
        mine = {phrase(k): k for k in words}
        top = [mine[c] for c in in_summary if c in mine]
        rest = [mine[c] for c in in_details if c in mine and c not in in_summary]
        if not top and not rest:
            continue
        score = SUMMARY_WEIGHT * len(top) + sum(1 for c in in_details if c in mine)
        rank = (score, len(top), len(top) + len(rest))
        if best is None or rank > best:
            best = rank
            choice = TeamChoice(team, "keywords", tuple(top + rest))
    return choice


# --- confidentiality ---------------------------------------------------------------------------
_CREDENTIALS = re.compile(
    r"\b(passwords?|passwd|passphrases?|passcodes?|credentials?|secrets?|api[ -]?keys?|access[ -]keys?|"
    r"secret[ -]keys?|private[ -]keys?|ssh[ -]keys?|tokens?|recovery codes?|backup codes?)\b",
    re.IGNORECASE,
)
_INCIDENT = re.compile(
    r"\b(security (incident|breach|issue|alert)|breach(es|ed)?|compromised?|phish(ing|ed|y)?|malware|ransomware|"
    r"virus|hack(ed|er)|leak(s|ed)?|exposed|stolen|suspicious (log ?in|sign[ -]?in|activity|e-?mail|link))\b",
    re.IGNORECASE,
)
_PERSON_ACCOUNT = re.compile(
    r"\b(my|his|her|their|your|[a-z][\w.-]*['’]s)\s+(?:[\w.@-]+\s+){0,2}accounts?\b"
    r"|\baccounts?\s+(of|for|belonging to)\s+(?!the\b|a\b|an\b|our\b)[\w.@-]+"
    r"|\b(user|employee|personal)\s+accounts?\b"
    r"|[\w.+-]+@[\w-]+\.[\w.]+\W+(?:[\w-]+\W+){0,3}accounts?\b",
    re.IGNORECASE,
)


def confidential_reasons(*texts: str) -> list[str]:
    """Why a request must be filed confidential: credentials, a security incident, a person's account."""
    text = "\n".join(texts)
    reasons = []
    if _CREDENTIALS.search(text):
        reasons.append("mentions credentials")
    if _INCIDENT.search(text):
        reasons.append("mentions a security incident")
    if _PERSON_ACCOUNT.search(text):
        reasons.append("mentions a person's account")
    return reasons


# --- labels ------------------------------------------------------------------------------------
def labels_for(policy: Policy, team: str, urgency: str, kind: str) -> list[str]:
    """The team's labels, `chatops`, the urgency as `priority::n` and the request kind."""
    priority = URGENCIES.get(urgency, URGENCIES[DEFAULT_URGENCY])[1]
    wanted: Iterable[str] = [*policy.team(team).labels, "chatops", f"priority::{priority}", KIND_LABELS[kind]]
    return list(dict.fromkeys(wanted))
