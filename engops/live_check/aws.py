"""AWS's part of `engops check --live`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from engops.live_check.result import CheckResult, attempt

if TYPE_CHECKING:
    from bot.providers.aws import AwsProvider


def aws_checks(aws: AwsProvider) -> Iterator[CheckResult]:
    yield attempt("aws", aws.ping)
