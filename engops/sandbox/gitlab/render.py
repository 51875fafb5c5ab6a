"""The JSON GitLab's REST API returns for the model's records (users, projects, issues, notes), with
URLs under the instance's base URL, and the plain views of issues that tests and the console read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from engops.sandbox.gitlab.model import AccessToken, GitLab, GitLabUser, Issue, Note, Project

API = "/api/v4"


def api_time(ts: float | None) -> str | None:
    if ts is None:
        return None
    dt = datetime.fromtimestamp(ts, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


class Renderer:
    """Renders `gitlab`'s records; `base_url()` is where GitLab says it lives (its external_url)."""

    def __init__(self, gitlab: GitLab, base_url: Callable[[], str]) -> None:
        self.gitlab = gitlab
        self._base_url = base_url

    @property
    def base_url(self) -> str:
        return self._base_url()

    def user_url(self, user: GitLabUser) -> str:
        return f"{self.base_url}/{user.username}"

    def project_url(self, project: Project) -> str:
        return f"{self.base_url}/{project.path_with_namespace}"

    def issue_url(self, project: Project, issue: Issue) -> str:
        return f"{self.project_url(project)}/-/issues/{issue.iid}"

    def user(self, user: GitLabUser, *, basic: bool = False) -> dict[str, Any]:
        """GitLab's `UserBasic` (what `GET /users` shows a non-admin: no email of any kind), or with the email."""
        shown: dict[str, Any] = {
            "id": user.id,
            "username": user.username,
            "name": user.name,
            "state": user.state,
            "locked": False,
            "avatar_url": None,
            "web_url": self.user_url(user),
        }
        return shown if basic else {**shown, "public_email": user.public_email}

    def current_user(self, user: GitLabUser) -> dict[str, Any]:
        data = self.user(user)
        data.update({"email": user.email, "bot": user.bot, "is_admin": user.is_admin, "two_factor_enabled": False})
        return data

    def member(self, user: GitLabUser, access_level: int) -> dict[str, Any]:
        return {
            **self.user(user, basic=True),
            "access_level": access_level,
            "created_at": api_time(0),
            "expires_at": None,
            "membership_state": "active",
        }

    def token(self, token: AccessToken) -> dict[str, Any]:
        return {
            "id": token.id,
            "name": token.name,
            "revoked": False,
            "created_at": api_time(0),
            "description": None,
            "scopes": list(token.scopes),
            "user_id": token.user_id,
            "last_used_at": api_time(time.time()),
            "active": True,
            "expires_at": None,
        }

    def project(self, project: Project, access_level: int | None = None) -> dict[str, Any]:
        namespace = project.namespace_path
        return {
            "id": project.id,
            "description": project.description,
            "name": project.path,
            "name_with_namespace": project.path_with_namespace.replace("/", " / "),
            "path": project.path,
            "path_with_namespace": project.path_with_namespace,
            "created_at": api_time(0),
            "default_branch": "main",
            "visibility": "private",
            "web_url": self.project_url(project),
            "issues_enabled": True,
            "namespace": {
                "id": project.namespace_id,
                "name": namespace.rsplit("/", 1)[-1],
                "path": namespace.rsplit("/", 1)[-1],
                "kind": "group",
                "full_path": namespace,
                "web_url": f"{self.base_url}/groups/{namespace}",
            },
            "permissions": {
                "project_access": None if access_level is None else {"access_level": access_level},
                "group_access": None,
            },
        }

    def issue(self, issue: Issue) -> dict[str, Any]:
        project = self.gitlab.projects[issue.project_id]
        assignees = [self.user(self.gitlab.users[i]) for i in issue.assignee_ids]
        api_url = f"{self.base_url}{API}/projects/{project.id}"
        return {
            "id": issue.id,
            "iid": issue.iid,
            "project_id": project.id,
            "title": issue.title,
            "description": issue.description,
            "state": issue.state,
            "created_at": api_time(issue.created_at),
            "updated_at": api_time(issue.updated_at),
            "closed_at": api_time(issue.closed_at),
            "closed_by": self.user(self.gitlab.users[issue.closed_by_id]) if issue.closed_by_id else None,
            "labels": list(issue.labels),
            "milestone": None,
            "assignees": assignees,
            "author": self.user(self.gitlab.users[issue.author_id]),
            "type": "ISSUE",
            "assignee": assignees[0] if assignees else None,
            "user_notes_count": sum(1 for n in issue.notes if not n.system),
            "merge_requests_count": 0,
            "upvotes": 0,
            "downvotes": 0,
            "due_date": None,
            "confidential": issue.confidential,
            "discussion_locked": issue.discussion_locked,
            "issue_type": "issue",
            "web_url": self.issue_url(project, issue),
            "time_stats": {
                "time_estimate": 0,
                "total_time_spent": 0,
                "human_time_estimate": None,
                "human_total_time_spent": None,
            },
            "task_completion_status": {"count": 0, "completed_count": 0},
            "has_tasks": False,
            "_links": {
                "self": f"{api_url}/issues/{issue.iid}",
                "notes": f"{api_url}/issues/{issue.iid}/notes",
                "award_emoji": f"{api_url}/issues/{issue.iid}/award_emoji",
                "project": api_url,
                "closed_as_duplicate_of": None,
            },
            "references": {
                "short": f"#{issue.iid}",
                "relative": f"#{issue.iid}",
                "full": f"{project.path_with_namespace}#{issue.iid}",
            },
            "severity": "UNKNOWN",
            "moved_to_id": issue.moved_to_id,
            "service_desk_reply_to": None,
        }

    def note(self, note: Note, issue: Issue) -> dict[str, Any]:
        return {
            "id": note.id,
            "type": None,
            "body": note.body,
            "attachment": None,
            "author": self.user(self.gitlab.users[note.author_id]),
            "created_at": api_time(note.created_at),
            "updated_at": api_time(note.updated_at),
            "system": note.system,
            "noteable_id": issue.id,
            "noteable_type": "Issue",
            "project_id": issue.project_id,
            "resolvable": False,
            "confidential": False,
            "internal": False,
            "noteable_iid": issue.iid,
        }

    def issue_view(self, project: Project, issue: Issue) -> dict[str, Any]:
        """Not GitLab's shape: the plain picture tests and the console read (usernames, not ids)."""
        return {
            "project": project.path_with_namespace,
            "iid": issue.iid,
            "title": issue.title,
            "description": issue.description,
            "state": issue.state,
            "labels": list(issue.labels),
            "assignees": [self.gitlab.users[i].username for i in issue.assignee_ids],
            "author": self.gitlab.users[issue.author_id].username,
            "confidential": issue.confidential,
            "web_url": self.issue_url(project, issue),
            "notes": [
                {"body": n.body, "author": self.gitlab.users[n.author_id].username, "system": n.system}
                for n in issue.notes
            ],
        }
