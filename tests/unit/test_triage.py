"""Triage: team choice order, keyword matching (the fallback without a model), confidentiality, labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.policy import Policy, load_policy
from workflows.tickets import triage
from workflows.tickets.duplicates import similar
from workflows.tickets.filing_form import FilingForm, check_form, prefill_from_text

POLICY = Path(__file__).resolve().parents[2] / "policy.example.yaml"


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(POLICY)


def choose(
    policy: Policy, summary: str, details: str = "", chosen: str | None = None, channel: str | None = None
) -> triage.TeamChoice:
    return triage.choose_team(policy, chosen=chosen, channel_name=channel, summary=summary, details=details)


def test_form_choice_then_channel_then_keywords_then_default(policy: Policy) -> None:
    okta = "Okta keeps asking for MFA"
    assert choose(policy, okta, chosen="operations", channel="#bt-integrations") == triage.TeamChoice(
        "operations", "chosen"
    )
    assert choose(policy, okta, chosen=triage.NOT_SURE, channel="#bt-integrations").team == "integrations"
    assert choose(policy, okta, channel="#bt-engineering-access-manager").how == "channel"  # a team's own channel
    by_words = choose(policy, okta, channel="#general")
    assert (by_words.team, by_words.how, set(by_words.matched)) == ("access-management", "keywords", {"okta", "mfa"})
    assert choose(policy, "The coffee machine is broken") == triage.TeamChoice("operations", "default")


def test_stems_phrases_and_it_vocabulary(policy: Policy) -> None:
    assert choose(policy, "Missing permissions and roles").matched == ("permission", "role")
    assert choose(policy, "Sandbox account for a demo").matched == ("sandbox account",)
    assert choose(policy, "Our S3 spend doubled").team == "infrastructure"  # s3 -> bucket, spend -> cost
    assert choose(policy, "Shared drive for the design team").team == "operations"  # -> google workspace
    assert choose(policy, "2FA reset please").team == "access-management"
    assert triage.stem("syncing") == "sync" and triage.stem("tagged") == "tag" and triage.stem("access") == "access"


def test_summary_counts_more_than_details(policy: Policy) -> None:
    assert choose(policy, "Workato recipe fails", "it runs on an AWS instance").team == "integrations"
    assert choose(policy, "AWS instance is slow", "the Workato agent runs there").team == "infrastructure"


def test_an_alias_only_counts_when_its_concept_is_a_keyword() -> None:
    keywords = {"a": ["laptop"], "b": ["printer"]}
    assert triage.classify(keywords, "MacBook broken", "", default="b").team == "a"
    assert triage.classify({"b": ["printer"]}, "MacBook broken", "", default="b").how == "default"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Reset my password please", ["mentions credentials"]),
        ("The deploy token leaked in a public channel", ["mentions credentials", "mentions a security incident"]),
        ("Phishing email pretending to be the CEO", ["mentions a security incident"]),
        ("Unlock Kim's Okta account", ["mentions a person's account"]),
        ("Unlock the account of bob@example.com", ["mentions a person's account"]),
        ("my account is locked", ["mentions a person's account"]),
        ("Salesforce sync created duplicate customer accounts", []),
        ("Budget alert for the sandbox AWS account", []),
        ("Need a new laptop charger", []),
    ],
)
def test_confidential_when_credentials_incidents_or_a_persons_account(text: str, expected: list[str]) -> None:
    assert triage.confidential_reasons(text) == expected


def test_labels(policy: Policy) -> None:
    assert triage.labels_for(policy, "infrastructure", "urgent", "escalation") == [
        "team::infrastructure",
        "chatops",
        "priority::1",
        "escalation",
    ]
    assert triage.labels_for(policy, "operations", "low", "it_request")[-2:] == ["priority::4", "it-request"]


def test_form_checks(policy: Policy) -> None:
    def form(**kw: object) -> FilingForm:
        base: dict[str, object] = {
            "kind": "it_request",
            "requester_slack_id": "U1",
            "summary": "Need a laptop",
            "details": "",
            "team": triage.NOT_SURE,
            "urgency": "normal",
        }
        return FilingForm(**{**base, **kw})  # type: ignore[arg-type]

    assert check_form(policy, form()) == {}
    assert "summary" in check_form(policy, form(summary="   \u200b\x00 "))
    assert "summary" in check_form(policy, form(summary="x" * 151))
    assert "details" in check_form(policy, form(details="x" * 3001))
    assert "team" in check_form(policy, form(team="security"))
    assert "urgency" in check_form(policy, form(urgency="whenever"))
    assert "details" in check_form(policy, form(kind="escalation", details=" "))


def test_long_slash_command_text_is_split_into_summary_and_details() -> None:
    short = prefill_from_text("Need <https://wiki.example.com|the wiki> for <@U1|alice>")
    assert (short.summary, short.details, short.notice) == (
        "Need [the wiki](https://wiki.example.com) for @alice",
        "",
        "",
    )
    huge = prefill_from_text("word " * 1999 + "words")
    assert len(huge.summary) <= 150 and huge.summary.endswith("…")
    assert len(huge.details) == 3000 and "10,000 characters" in huge.notice  # said, not silently dropped


def test_near_identical_titles() -> None:
    assert similar("Need access to the payments dashboards", "need access to the payments dashboard!")
    assert not similar("Need access to the payments dashboards", "Need access to the billing dashboards")
    assert not similar("", "")
