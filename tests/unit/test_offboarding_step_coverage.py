"""Every offboarding step the policy accepts is carried out, or honestly reported as not carried out.

A step name in `bot.policy.OffboardingStep` with no implementation must never be silently skipped (its
RunStep row left pending, the run reported "Done") nor crash: the preview says so in advance and the run
records it as failed, so the progress message flags it and shows Retry.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import get_args

import pytest

from bot.policy import OffboardingStep
from bot.slack.offboarding_views import STEP_LABELS
from workflows.offboarding import outcomes, progress, steps
from workflows.offboarding.plan import Lookup, person_lines

ALL_STEPS = get_args(OffboardingStep)


@pytest.mark.parametrize("name", ALL_STEPS)
def test_every_policy_step_runs_or_fails_honestly(name: str) -> None:
    assert name in STEP_LABELS, f"{name} has no progress-message label"
    if name == progress.RECORD_STEP:
        return  # filed after the people's steps by workflows/offboarding/record.py
    assert name in steps.PERSON_STEPS, f"{name} would stay pending forever: the run never picks it up"
    if name in steps.IMPLEMENTED:
        return
    outcome = steps.run_step(steps.PERSON_STEPS[name], outcomes.PersonContext("alice@example.com", 7))
    assert outcome.status == "failed" and outcomes.NOT_IN_THIS_RELEASE in outcome.detail
    shown = person_lines(Lookup("alice@example.com"), [name], "tracker", datetime.now(UTC))
    assert any(outcomes.NOT_IN_THIS_RELEASE in line for line in shown), shown


def test_the_release_carries_out_the_example_policy_steps() -> None:
    example = [
        "google_suspend",
        "google_signout",
        "google_revoke_tokens",
        "okta_suspend",
        "okta_clear_sessions",
        "engops_end_grants",
        "aws_deactivate_keys",
        "google_transfer_data",
    ]
    assert [name for name in example if name not in steps.IMPLEMENTED] == []
