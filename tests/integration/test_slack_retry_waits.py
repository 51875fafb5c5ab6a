"""Rate-limit waits are honoured as the vendor asks up to a minute: GitLab's (and Okta's) windows are 60 s long,
so a 429 can ask for close to 60 s. Waiting less (the old 30 s cap) only spends an attempt on a call that is
refused again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.providers.errors import RateLimitedError
from bot.providers.gitlab import GitLabAdapter
from engops.sandbox.base import RunningServer
from engops.sandbox.directory import demo_directory
from engops.sandbox.gitlab import DEFAULT_TOKEN, GitLabStandIn
from tests.support.gitlab import INFRA


class RecordedSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def gitlab() -> Iterator[tuple[GitLabStandIn, str]]:
    stand_in = GitLabStandIn.from_directory(demo_directory())
    with RunningServer(stand_in) as server:
        yield stand_in, server.url


def test_a_gitlab_window_of_a_minute_is_waited_out_in_full(gitlab: tuple[GitLabStandIn, str]) -> None:
    stand_in, url = gitlab
    sleeps = RecordedSleep()
    adapter = GitLabAdapter(url, DEFAULT_TOKEN, timeout=5, attempts=2, sleep=sleeps)
    stand_in.set_rate_limit(1, period=60)  # GitLab.com's authenticated API window
    assert adapter.project_exists(INFRA)
    with pytest.raises(RateLimitedError):  # the recorded sleep does not wait, so the window is still closed
        adapter.project_exists(INFRA)
    [waited] = sleeps.delays
    assert 55 < waited <= 60  # as GitLab asked (Retry-After / RateLimit-Reset), not cut to 30 s
