"""What durable workflows run against: installed once by the composition root.

DBOS workflows are module-level functions that may be resumed in another process after a
crash, so they cannot take live clients as arguments; they look them up here instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.clock import Clock, SystemClock
from bot.db.engine import Database
from bot.policy import Policy
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.providers.aws import AwsProvider
    from bot.providers.gitlab import IssueTracker
    from bot.providers.google import GoogleProvider
    from bot.providers.okta import OktaDirectory
    from bot.slack.messenger import Messenger


class NotConfiguredError(RuntimeError):
    pass


@dataclass(frozen=True)
class Patience:
    """How long durable work waits out a provider that does not answer (5xx, timeouts, 429s that outlast the
    adapter's own quick retries) before it gives up: the pauses, in seconds, between one try and the next.

    The default (about 40 s in all) outlasts a deploy or a rate-limit window at the provider; tests shorten it."""

    pauses: tuple[float, ...] = (2.0, 5.0, 10.0, 20.0)

    @property
    def total(self) -> float:
        return sum(self.pauses)


@dataclass
class Runtime:
    settings: Settings
    policy: Policy
    db: Database
    slack: Messenger
    okta: OktaDirectory | None = None
    google: GoogleProvider | None = None
    aws: AwsProvider | None = None
    gitlab: IssueTracker | None = None
    clock: Clock = field(default_factory=SystemClock)
    patience: Patience = field(default_factory=Patience)

    def require_okta(self) -> OktaDirectory:
        if self.okta is None:
            raise NotConfiguredError("Okta is not configured (OKTA_CLIENT_ORGURL)")
        return self.okta

    def require_google(self) -> GoogleProvider:
        if self.google is None:
            raise NotConfiguredError("Google Workspace is not configured (GOOGLE_APPLICATION_CREDENTIALS)")
        return self.google

    def require_aws(self) -> AwsProvider:
        if self.aws is None:
            raise NotConfiguredError("AWS is not configured")
        return self.aws

    def require_gitlab(self) -> IssueTracker:
        if self.gitlab is None:
            raise NotConfiguredError("GitLab is not configured (GITLAB_TOKEN)")
        return self.gitlab


_current: Runtime | None = None


def install(runtime: Runtime | None) -> None:
    global _current
    _current = runtime


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("the workflow runtime is not installed (build services first)")
    return _current
