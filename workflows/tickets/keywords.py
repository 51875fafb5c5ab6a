"""Matching a policy's keywords in a request's text: light stemming, multi-word keywords, and a small general IT
vocabulary (`ALIASES`) of product and jargon names that stand for a concept a policy may list ("S3" is a `bucket`,
"2FA" is `mfa`). An alias only counts when its concept is some team's keyword, so the policy stays the one source
of routing. Used by the keyword triage and, as features, by the team classifier (`team_model`)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

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


def concepts_in(
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


def phrase(text: str) -> tuple[str, ...]:
    return tuple(stems(text))


def stems(text: str) -> list[str]:
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
