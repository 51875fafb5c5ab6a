"""GitLab's part of `engops check --live`: who the token is, that its scope lets the bot write, that its user is at
least Reporter in every tracker (labels and assignees of a new issue need it: below, GitLab drops them silently),
and that every DRI is found."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from bot.policy import Policy
from bot.providers.errors import ProviderError
from engops.live_check.result import CheckResult, attempt

if TYPE_CHECKING:
    from bot.providers.gitlab import IssueTracker


_DRI_NOT_FOUND = "not found (set org.gitlab_usernames or make the email public)"
NEEDED_SCOPE = "api"  # files issues and comments; read_api cannot write
REPORTER = 20
ROLES = {
    5: "Minimal Access",
    10: "Guest",
    15: "Planner",
    20: "Reporter",
    30: "Developer",
    40: "Maintainer",
    50: "Owner",
}


def gitlab_checks(policy: Policy, gitlab: IssueTracker) -> Iterator[CheckResult]:
    who = attempt("gitlab", gitlab.ping)
    yield who
    if not who.ok:
        return  # every other call would fail the same way
    yield _token_scope(gitlab)
    trackers: dict[str, list[str]] = {}
    for key, team in policy.teams.items():
        trackers.setdefault(str(team.tracker), []).append(f"teams.{key}")
    for tracker, teams in trackers.items():
        yield _tracker_role(gitlab, tracker, teams)
    for dri in dict.fromkeys(dri for team in policy.teams.values() for dri in team.dris):  # each person once
        username = policy.gitlab_username(dri)
        user_id = gitlab.find_user_id(username=username) if username else gitlab.find_user_id(email=dri)
        yield CheckResult(
            f"gitlab user of {dri}",
            user_id is not None,
            f"id {user_id}" if user_id is not None else _DRI_NOT_FOUND,
        )


def _token_scope(gitlab: IssueTracker) -> CheckResult:
    service = "gitlab token scope"
    try:
        scopes = gitlab.token_scopes()
    except ProviderError as exc:
        return CheckResult(service, False, f"cannot read the token's scopes ({exc}); it needs `{NEEDED_SCOPE}`")
    if NEEDED_SCOPE in scopes:
        return CheckResult(service, True, ", ".join(scopes))
    return CheckResult(
        service,
        False,
        f"the token has {', '.join(scopes) or 'no scope'}; grant it the `{NEEDED_SCOPE}` scope "
        "(a new token: scopes cannot be added to an existing one)",
    )


def _tracker_role(gitlab: IssueTracker, tracker: str, teams: list[str]) -> CheckResult:
    service = f"gitlab tracker {tracker} ({', '.join(teams)})"
    try:
        if not gitlab.project_exists(tracker):
            return CheckResult(
                service, False, "not found or not visible to the token; add the token's user as Reporter (or higher)"
            )
        level = gitlab.access_level(tracker)
    except ProviderError as exc:
        return CheckResult(service, False, str(exc))
    if level is None:
        return CheckResult(service, False, "the token's user is not a member; add it as Reporter (or higher)")
    role = ROLES.get(level, f"access level {level}")
    if level < REPORTER:
        return CheckResult(service, False, f"the token's user is {role}; make it Reporter (or higher)")
    return CheckResult(service, True, role)
