"""Whom `engops check --live` asks IAM's simulator about: the caller's own ARN, or for an assumed role's session
the role; the account's root user cannot be simulated (it may do everything)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from engops.live_check.aws import aws_checks


class RecordingAws:
    def __init__(self, caller: str) -> None:
        self.caller = caller
        self.simulated: list[tuple[str, str]] = []

    def ping(self) -> str:
        return self.caller

    def region_in_use(self) -> tuple[str | None, str]:
        return "eu-west-1", "AWS_REGION"

    def simulate(
        self, principal_arn: str, actions: Sequence[str], resource_arn: str, context: Mapping[str, str]
    ) -> dict[str, str]:
        self.simulated.append((principal_arn, resource_arn))
        return dict.fromkeys(actions, "allowed")


def test_an_assumed_role_session_is_simulated_as_its_role() -> None:
    aws = RecordingAws("arn:aws:sts::123456789012:assumed-role/engops-bot/i-0abc")
    lines = [r.message for r in aws_checks(aws, "engops/iam/{user}")]  # type: ignore[arg-type]
    assert {principal for principal, _ in aws.simulated} == {"arn:aws:iam::123456789012:role/engops-bot"}
    assert [resource for _, resource in aws.simulated] == [
        "*",
        "arn:aws:iam::123456789012:user/*",
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:engops/iam/*-??????",
    ]
    assert lines[-1] == "the 11 IAM and Secrets Manager actions the bot uses are allowed"


def test_the_root_user_is_not_simulated() -> None:
    aws = RecordingAws("arn:aws:iam::123456789012:root")
    results = list(aws_checks(aws))  # type: ignore[arg-type]
    assert aws.simulated == [] and all(r.ok for r in results)
    assert "root user" in results[-1].message
