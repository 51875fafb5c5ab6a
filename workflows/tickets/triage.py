"""Triage (SPEC §6.4): which team gets a request, its labels, and whether it is confidential.

Pure functions over the policy and the request's text; they run on the ack path.

The team is the one chosen in the form; else the channel's team; else the best match of the
teams' `keywords` over the summary (counted twice) and the details; else the `default` team.
Matching works on word stems, so "permissions" matches `permission` and "syncing" `sync`, and
knows a small, general IT vocabulary (`ALIASES`): product and jargon names that stand for one of
the concepts a policy may list ("S3" is a `bucket`, "2FA" is `mfa`). An alias only counts when
its concept is some team's keyword, so the policy stays the one source of routing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.policy import Policy

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

# General IT vocabulary -> the concept it stands for (a keyword a policy may list).
ALIASES: dict[str, str] = {
    # identity and access
    "single sign on": "sso",
    "saml": "sso",
    "oidc": "sso",
    "2fa": "mfa",
    "two factor": "mfa",
    "multi factor": "mfa",
    "second factor": "mfa",
    "authenticator": "mfa",
    "yubikey": "mfa",
    "okta verify": "okta",
    "permission set": "permission",
    "privilege": "permission",
    "admin right": "permission",
    # cloud
    "s3": "bucket",
    "gcs": "bucket",
    "storage bucket": "bucket",
    "ec2": "instance",
    "vm": "instance",
    "virtual machine": "instance",
    "eks": "aws",
    "rds": "aws",
    "iam": "aws",
    "lambda": "aws",
    "cloudfront": "aws",
    "cloudwatch": "aws",
    "amazon web service": "aws",
    "google cloud": "gcp",
    "gke": "gcp",
    "bigquery": "gcp",
    "cloud run": "gcp",
    "cloud sql": "gcp",
    "route 53": "dns",
    "route53": "dns",
    "hosted zone": "dns",
    "cname": "dns",
    "txt record": "dns",
    "subnet": "vpc",
    "security group": "vpc",
    "peering": "vpc",
    "cidr": "vpc",
    "spend": "cost",
    "budget": "cost",
    # business applications
    "sfdc": "salesforce",
    "workato recipe": "workato",
    "connector": "integration",
    # workplace
    "g suite": "google workspace",
    "gsuite": "google workspace",
    "google drive": "google workspace",
    "shared drive": "google workspace",
    "google calendar": "google workspace",
    "google group": "google workspace",
    "google doc": "google workspace",
    "google sheet": "google workspace",
    "macbook": "laptop",
    "chromebook": "laptop",
    "notebook computer": "laptop",
    "cron": "script",
}

_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class TeamChoice:
    team: str  # the team's key in `teams:`
    how: str  # chosen | channel | keywords | default
    matched: tuple[str, ...] = ()  # the keywords that decided it

    def describe(self, team_name: str) -> str:
        if self.how == "chosen":
            return f"{team_name} (chosen in the form)"
        if self.how == "channel":
            return f"{team_name} (the channel's team)"
        if self.how == "keywords":
            return f"{team_name} (matched: {', '.join(self.matched)})"
        return f"{team_name} (the default team: nothing matched)"


def choose_team(
    policy: Policy, *, chosen: str | None, channel_name: str | None, summary: str, details: str
) -> TeamChoice:
    if chosen and chosen != NOT_SURE and chosen in policy.teams:
        return TeamChoice(chosen, "chosen")
    if channel_name:
        team = policy.team_for_channel(channel_name)
        if team is not None:
            return TeamChoice(team.key, "channel")
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
    concepts = {_phrase(k) for ks in keywords.values() for k in ks}
    usable = {_phrase(alias): _phrase(concept) for alias, concept in aliases.items() if _phrase(concept) in concepts}
    in_summary = _concepts_in(_stems(summary), concepts, usable)
    in_details = _concepts_in(_stems(details), concepts, usable)
    best: tuple[int, int, int] | None = None
    choice = TeamChoice(default, "default")
    for team, words in keywords.items():
        mine = {_phrase(k): k for k in words}
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


def _concepts_in(
    stems: list[str], concepts: set[tuple[str, ...]], aliases: Mapping[tuple[str, ...], tuple[str, ...]]
) -> list[tuple[str, ...]]:
    """Concepts found in the text, in order of first appearance, each once."""
    found: dict[tuple[str, ...], None] = {}
    longest = max((len(p) for p in list(concepts) + list(aliases)), default=1)
    for start in range(len(stems)):
        for size in range(min(longest, len(stems) - start), 0, -1):
            window = tuple(stems[start : start + size])
            if window in concepts:
                found.setdefault(window)
            elif window in aliases:
                found.setdefault(aliases[window])
    return list(found)


def _phrase(text: str) -> tuple[str, ...]:
    return tuple(_stems(text))


def _stems(text: str) -> list[str]:
    return [stem(w) for w in _WORD.findall(unicodedata.normalize("NFKC", text).lower())]


def stem(word: str) -> str:
    """A light English stemmer: plurals and -ing/-ed, enough to match keyword variants."""
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            if len(base) > 3 and base[-1] == base[-2] and base[-1] not in "sl":
                base = base[:-1]  # tagged -> tag
            return base
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


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
