"""GitLab's part of `engops check --live`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from bot.policy import Policy
from engops.live_check.result import CheckResult, attempt, found

if TYPE_CHECKING:
    from bot.providers.gitlab import IssueTracker


_DRI_NOT_FOUND = "not found (set org.gitlab_usernames or make the email public)"


def gitlab_checks(policy: Policy, gitlab: IssueTracker) -> Iterator[CheckResult]:
    yield attempt("gitlab", gitlab.ping)
    for key, team in policy.teams.items():
        tracker = str(team.tracker)
        yield found(
            f"gitlab tracker of teams.{key}",
            lambda t=tracker: gitlab.project_exists(t),  # type: ignore[misc]
            f"project {tracker} not found or not visible to the token",
        )
        for dri in team.dris:
            username = policy.gitlab_username(dri)
            user_id = gitlab.find_user_id(username=username) if username else gitlab.find_user_id(email=dri)
            yield CheckResult(
                f"gitlab user of {dri}",
                user_id is not None,
                f"id {user_id}" if user_id is not None else _DRI_NOT_FOUND,
            )
