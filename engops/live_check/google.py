"""Google Workspace's part of `engops check --live`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from engops.live_check.result import CheckResult, attempt

if TYPE_CHECKING:
    from bot.providers.google import GoogleProvider


def google_checks(google: GoogleProvider) -> Iterator[CheckResult]:
    yield attempt("google", google.ping)
