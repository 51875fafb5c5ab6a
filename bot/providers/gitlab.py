"""GitLab issue tracker: the interface the workflows use, and its python-gitlab adapter.

One retry layer: python-gitlab's own retries are switched off per call (`obey_rate_limit=False`,
`retry_transient_errors=False`) and every call goes through `retrying`, which honours GitLab's
`Retry-After`. Nested retry loops would multiply attempts, and python-gitlab would re-POST an
issue after a timeout or 5xx that may already have created it; `create_issue` instead looks for
the issue it may have just filed before trying again.

The adapter sends text as given: making user text safe for GitLab (quick actions, `@all`) is the
job of the caller's sanitiser.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:  # python-gitlab costs ~0.15 s to import: only adapters that are built pay it
    import gitlab.exceptions
    import requests

from bot.providers.errors import (
    AuthError,
    NotFoundError,
    ProviderError,
    RateLimitedError,
    TransientError,
    retrying,
)

PROVIDER = "gitlab"
T = TypeVar("T")

# python-gitlab retries 429 and (optionally) 5xx inside every request; `retrying` does it here instead.
_NO_SDK_RETRY: dict[str, Any] = {"obey_rate_limit": False, "retry_transient_errors": False}
# How far back (seconds) an issue may have been created by an attempt whose answer was lost.
_CREATE_LOOKBACK = 600.0


@dataclass(frozen=True)
class FiledIssue:
    project: str  # path with namespace, e.g. "bt-engineering/infrastructure/issue-tracker"
    iid: int
    web_url: str
    title: str
    state: str  # "opened" | "closed"
    labels: tuple[str, ...]
    confidential: bool
    author_username: str
    author_id: int | None = None
    id: int | None = None  # GitLab's global id (what a moved issue's `moved_to_id` names)


class IssueTracker(Protocol):
    def current_user_id(self) -> int: ...

    def find_user_id(self, username: str | None = None, email: str | None = None) -> int | None: ...

    def create_issue(
        self,
        project: str,
        title: str,
        description: str,
        labels: list[str],
        assignee_ids: list[int],
        confidential: bool,
    ) -> FiledIssue: ...

    def search_open_issues(
        self, project: str, title_query: str, author_username: str | None = None, author_id: int | None = None
    ) -> list[FiledIssue]: ...

    def get_issue(self, project: str, iid: int) -> FiledIssue: ...

    def add_note(self, project: str, iid: int, body: str) -> None: ...

    def ping(self) -> str: ...

    def project_exists(self, project: str) -> bool: ...

    def token_scopes(self) -> tuple[str, ...]: ...

    def access_level(self, project: str) -> int | None: ...


class GitLabAdapter:
    """IssueTracker on python-gitlab. `project` arguments are a path with namespace or a numeric id."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 10.0,
        page_size: int = 100,
        attempts: int = 6,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[ProviderError, float], None] | None = None,
    ) -> None:
        self._attempts = attempts
        self._sleep = sleep
        self._on_retry = on_retry
        self._throttle = threading.local()  # the last 429's Retry-After, per calling thread
        import gitlab
        import requests

        session = requests.Session()
        session.hooks["response"].append(self._remember_throttle)
        self._gl = gitlab.Gitlab(
            url,
            private_token=token,
            timeout=timeout,
            per_page=page_size,
            retry_transient_errors=False,
            session=session,
        )
        self._me: dict[str, Any] | None = None

    # --- IssueTracker -----------------------------------------------------------------------------
    def current_user_id(self) -> int:
        """The GitLab user id of the token's user (`GET /user`, asked once)."""
        return int(self._retry(self._current_user)["id"])

    def find_user_id(self, username: str | None = None, email: str | None = None) -> int | None:
        """The active user with this username (when given, only it counts), else the one with this email.

        Without admin rights GitLab finds a user by email only when it is their public email.
        """
        if username:
            users = self._call("find user", lambda: self._list_users(username=username))
            return next((u["id"] for u in users if u["username"].lower() == username.lower()), None)
        if not email:
            raise ValueError("find_user_id needs a username or an email")
        users = self._call("find user", lambda: self._list_users(search=email))
        wanted = email.lower()
        exact = [u for u in users if wanted in {str(u.get(k) or "").lower() for k in ("public_email", "email")}]
        if exact:
            return int(exact[0]["id"]) if len(exact) == 1 else None
        if len(users) != 1 or any("public_email" in u or "email" in u for u in users):
            return None
        # Without admin rights GitLab shows no emails. Its search also matches names and usernames, and anyone may
        # name their account "erin@example.com": one hit is the person only when its name and username do not
        # contain the address, so that only the (public) email can have matched.
        (hit,) = users
        named_like = any(wanted in str(hit.get(k) or "").lower() for k in ("name", "username"))
        return None if named_like else int(hit["id"])

    def create_issue(
        self,
        project: str,
        title: str,
        description: str,
        labels: list[str],
        assignee_ids: list[int],
        confidential: bool,
    ) -> FiledIssue:
        data: dict[str, Any] = {
            "title": title,
            "description": description,
            "labels": list(labels),
            "assignee_ids": list(assignee_ids),
            "confidential": confidential,
        }
        started = time.time()
        outcome_unknown = False

        def attempt() -> FiledIssue:
            nonlocal outcome_unknown
            if outcome_unknown:
                found = self._issue_filed_since(project, title, description, started - _CREATE_LOOKBACK)
                if found is not None:
                    return found
            try:
                created = self._translate(
                    "create issue",
                    lambda: self._project(project).issues.create(data, **_NO_SDK_RETRY).asdict(),
                )
            except RateLimitedError:
                raise  # a 429 was refused before anything was created
            except TransientError:
                outcome_unknown = True
                raise
            return _filed(created, project)

        return self._retry(attempt)

    def search_open_issues(
        self, project: str, title_query: str, author_username: str | None = None, author_id: int | None = None
    ) -> list[FiledIssue]:
        """Open issues whose title matches `title_query` the GitLab way (every 3+ char word), newest first."""
        filters: dict[str, Any] = {"state": "opened", "order_by": "created_at", "sort": "desc"}
        if title_query.strip():
            filters.update({"search": title_query, "in": "title"})  # `in_=` would be sent literally
        if author_username:
            filters["author_username"] = author_username
        if author_id is not None:
            filters["author_id"] = author_id
        issues = self._call("search issues", lambda: self._list_issues(project, filters))
        return [_filed(i, project) for i in issues]

    def get_issue(self, project: str, iid: int) -> FiledIssue:
        data = self._call("get issue", lambda: self._project(project).issues.get(iid, **_NO_SDK_RETRY).asdict())
        return _filed(data, project)

    def add_note(self, project: str, iid: int, body: str) -> None:
        # A note may be accepted without being stored (GitLab answers 202 when it held only quick actions).
        self._call(
            "add note",
            lambda: self._project(project).issues.get(iid, lazy=True).notes.create({"body": body}, **_NO_SDK_RETRY),
        )

    def ping(self) -> str:
        """Who the token is: `@username (id N)`."""
        me = self._retry(self._current_user)
        return f"@{me['username']} (id {me['id']})"

    def project_exists(self, project: str) -> bool:
        try:
            self._call("get project", lambda: self._gl.projects.get(project, **_NO_SDK_RETRY))
        except NotFoundError:
            return False
        return True

    def token_scopes(self) -> tuple[str, ...]:
        """The token's scopes (`GET /personal_access_tokens/self`: personal, project and group access tokens)."""
        data = self._call("get token", lambda: self._gl.http_get("/personal_access_tokens/self", **_NO_SDK_RETRY))
        if not isinstance(data, dict):
            raise ProviderError(PROVIDER, "get token: unexpected response")
        return tuple(str(scope) for scope in data.get("scopes") or ())

    def access_level(self, project: str) -> int | None:
        """The token's user's access level in `project`, inherited membership included; None: not a member."""
        me = self.current_user_id()
        try:
            member = self._call(
                "get membership", lambda: self._project(project).members_all.get(me, **_NO_SDK_RETRY).asdict()
            )
        except NotFoundError:
            return None
        return int(member["access_level"])

    # --- calls ---------------------------------------------------------------------------------------
    def _project(self, project: str) -> Any:
        return self._gl.projects.get(project, lazy=True)

    def _list_users(self, **filters: Any) -> list[dict[str, Any]]:
        users = self._gl.users.list(get_all=False, **filters, **_NO_SDK_RETRY)
        return [u.asdict() for u in users if u.asdict().get("state", "active") == "active"]

    def _list_issues(self, project: str, filters: dict[str, Any]) -> list[dict[str, Any]]:
        issues = self._project(project).issues.list(get_all=True, **filters, **_NO_SDK_RETRY)
        return [i.asdict() for i in issues]

    def _current_user(self) -> dict[str, Any]:
        """The token's user (one attempt; cached once known)."""
        if self._me is None:
            data = self._translate("get current user", lambda: self._gl.http_get("/user", **_NO_SDK_RETRY))
            if not isinstance(data, dict):
                raise ProviderError(PROVIDER, "get current user: unexpected response")
            self._me = data
        return self._me

    def _issue_filed_since(self, project: str, title: str, description: str, since: float) -> FiledIssue | None:
        """The issue an earlier attempt filed although its answer was lost (timeout, 5xx), if any."""
        me = self._current_user()
        filters = {
            "search": title,
            "in": "title",
            "author_id": me["id"],
            "created_after": datetime.fromtimestamp(since, tz=UTC).isoformat(),
            "order_by": "created_at",
            "sort": "desc",
        }
        for issue in self._translate("find filed issue", lambda: self._list_issues(project, filters)):
            same_title = issue.get("title") == title.strip()
            if same_title and _normalised(issue.get("description") or "") == _normalised(description):
                return _filed(issue, project)
        return None

    def _call(self, operation: str, fn: Callable[[], T]) -> T:
        return self._retry(lambda: self._translate(operation, fn))

    def _retry(self, fn: Callable[[], T]) -> T:
        return retrying(fn, attempts=self._attempts, sleep=self._sleep, on_retry=self._on_retry)

    def _translate(self, operation: str, fn: Callable[[], T]) -> T:
        """Run one SDK call and turn its failures into provider errors."""
        import gitlab.exceptions
        import requests

        self._throttle.retry_after = None
        try:
            return fn()
        except gitlab.exceptions.GitlabAuthenticationError as exc:
            raise AuthError(PROVIDER, f"{operation}: {exc.error_message}", exc.response_code) from None
        except gitlab.exceptions.GitlabError as exc:
            raise self._error(operation, exc) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(PROVIDER, f"{operation}: {type(exc).__name__}") from None

    def _error(self, operation: str, exc: gitlab.exceptions.GitlabError) -> ProviderError:
        status = exc.response_code
        message = f"{operation}: {exc.error_message}"
        if status == 404:
            return NotFoundError(PROVIDER, message, status)
        if status in (401, 403):
            return AuthError(PROVIDER, message, status)
        if status == 429:
            retry_after = self._throttle.retry_after
            return RateLimitedError(PROVIDER, retry_after if retry_after is not None else 1.0, message)
        if status is not None and (status >= 500 or (status == 409 and "Resource lock" in str(exc.error_message))):
            return TransientError(PROVIDER, message, status)
        return ProviderError(PROVIDER, message, status)

    def _remember_throttle(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.status_code == 429:
            self._throttle.retry_after = _retry_after(response.headers)


def _retry_after(headers: Any) -> float | None:
    """Seconds to wait from GitLab's `Retry-After`, else its `RateLimit-Reset` (epoch seconds)."""
    try:
        if headers.get("Retry-After") is not None:
            return max(0.0, float(headers["Retry-After"]))
        if headers.get("RateLimit-Reset") is not None:
            return max(0.0, float(headers["RateLimit-Reset"]) - time.time())
    except ValueError:
        return None
    return None


def _normalised(text: str) -> str:
    # GitLab drops "\r" and trailing whitespace from descriptions it runs through quick actions.
    return text.replace("\r", "").rstrip()


def _filed(data: dict[str, Any], project: str) -> FiledIssue:
    full_ref = str((data.get("references") or {}).get("full") or "")
    path = full_ref.rsplit("#", 1)[0] if "#" in full_ref else project
    return FiledIssue(
        project=path,
        iid=int(data["iid"]),
        web_url=str(data["web_url"]),
        title=str(data["title"]),
        state=str(data["state"]),
        labels=tuple(str(label) for label in data.get("labels") or ()),
        confidential=bool(data.get("confidential")),
        author_username=str((data.get("author") or {}).get("username", "")),
        author_id=_author_id(data),
        id=data["id"] if isinstance(data.get("id"), int) and not isinstance(data.get("id"), bool) else None,
    )


def _author_id(data: dict[str, Any]) -> int | None:
    value = (data.get("author") or {}).get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def open_issues_filed_by_bot(
    tracker: IssueTracker, project: str, title_query: str, *, confidential: bool
) -> list[FiledIssue]:
    """Open issues matching `title_query` that the bot may take as its own: filed by the bot's own GitLab
    user (anyone who can open issues can write a title the bot would look for) and, when `confidential`,
    confidential ones only (a public issue must never receive what was meant to be confidential)."""
    me = tracker.current_user_id()
    found = tracker.search_open_issues(project, title_query, author_id=me)
    return [i for i in found if i.author_id == me and (i.confidential or not confidential)]
