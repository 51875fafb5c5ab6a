"""Typed provider errors and the one retry loop every adapter uses.

Adapters turn SDK errors into these exceptions. `retrying` honours a provider's
`Retry-After` on 429 and backs off on transient failures, so a rate limit is never shown
to a user as a failure; what is still failing after the attempts surfaces as the error.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class ProviderError(Exception):
    """A provider call that failed and will not succeed by retrying."""

    retryable = False

    def __init__(self, provider: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{provider}: {message}" + (f" (HTTP {status})" if status else ""))
        self.provider = provider
        self.message = message
        self.status = status

    def __reduce__(self) -> tuple[type[ProviderError], tuple[str, str, int | None]]:
        # DBOS pickles a failed step's error and unpickles it when it replays the workflow (after a restart)
        return (type(self), (self.provider, self.message, self.status))


class NotFoundError(ProviderError):
    """The thing asked for does not exist at the provider."""


class AuthError(ProviderError):
    """The provider refused our credentials (401/403 not caused by rate limits)."""


class TransientError(ProviderError):
    """5xx, a timeout or a refused connection: worth trying again."""

    retryable = True


class RateLimitedError(TransientError):
    """429 (or the vendor's equivalent); `retry_after` seconds from the vendor's headers."""

    def __init__(self, provider: str, retry_after: float, message: str = "rate limited") -> None:
        super().__init__(provider, message, 429)
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[type[RateLimitedError], tuple[str, float, str]]:  # type: ignore[override]
        return (type(self), (self.provider, self.retry_after, self.message))


# The longest rate-limit wait honoured as the vendor asks: Okta's and GitLab's windows are a minute long, so a
# reset (`X-Rate-Limit-Reset`, `RateLimit-Reset`) or `Retry-After` can be up to 60 s away. Waiting less only
# spends an attempt on a call that is refused again.
MAX_RATE_LIMIT_WAIT = 60.0


def retrying(
    fn: Callable[[], T],
    *,
    attempts: int = 6,
    base_delay: float = 0.2,
    max_delay: float = 30.0,
    max_rate_limit_wait: float = MAX_RATE_LIMIT_WAIT,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[ProviderError, float], None] | None = None,
) -> T:
    """Run `fn`, retrying RateLimitedError (after its retry_after, up to `max_rate_limit_wait`) and
    TransientError (exponential backoff up to `max_delay`)."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except RateLimitedError as exc:
            if attempt == attempts:
                raise
            delay = min(max_rate_limit_wait, max(exc.retry_after, 0.05))
            if on_retry:
                on_retry(exc, delay)
            sleep(delay)
        except TransientError as exc:
            if attempt == attempts:
                raise
            delay = min(max_delay, base_delay * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
            if on_retry:
                on_retry(exc, delay)
            sleep(delay)
    raise AssertionError("unreachable")
