"""Okta's part of `engops check --live`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from bot.policy import Policy
from engops.live_check.result import CheckResult, attempt, found

if TYPE_CHECKING:
    from bot.providers.okta import OktaDirectory


def okta_checks(policy: Policy, okta: OktaDirectory) -> Iterator[CheckResult]:
    yield attempt("okta", okta.ping)
    names = [g.okta_group for g in policy.access.groups]
    names += [r.okta_group for r in policy.roles.values() if r.okta_group]
    for name in names:
        yield found(
            f"okta group {name}",
            lambda n=name: okta.get_group_by_name(n) is not None,  # type: ignore[misc]
            f"group {name} not found in Okta",
        )
