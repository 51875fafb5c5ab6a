"""What one line of `engops check --live` says, and how a probe becomes one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.providers.errors import ProviderError


@dataclass(frozen=True)
class CheckResult:
    service: str
    ok: bool
    message: str


def attempt(service: str, probe: Callable[[], str]) -> CheckResult:
    try:
        return CheckResult(service, True, probe())
    except ProviderError as exc:
        return CheckResult(service, False, str(exc))
    except Exception as exc:  # any failure to reach a service is a finding, not a crash
        return CheckResult(service, False, f"{type(exc).__name__}: {str(exc)[:200]}")


def found(service: str, probe: Callable[[], bool], missing: str) -> CheckResult:
    result = attempt(service, lambda: "found" if probe() else "")
    if result.ok and not result.message:
        return CheckResult(service, False, missing)
    return result
