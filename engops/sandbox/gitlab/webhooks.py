"""The webhooks GitLab sends: Issue Hook and Note Hook (Confidential ... Hook for confidential
issues; a Note Hook when a note is created and when its text is edited) with GitLab's payloads and
headers, delivered one at a time from a background thread; a failed delivery is recorded, never raised.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from engops.sandbox.gitlab.model import GitLab, GitLabUser, Issue, Label, Note, Project
from engops.sandbox.gitlab.render import Renderer


@dataclass(frozen=True)
class Webhook:
    url: str
    secret_token: str | None
    project: str | None = None  # None: every project (like a group hook)
    issues_events: bool = True
    note_events: bool = True
    confidential_events: bool = True


@dataclass
class WebhookDelivery:
    url: str
    event: str
    payload: dict[str, Any]
    headers: dict[str, str]
    status: int | None = None
    error: str | None = None


class WebhookSender:
    """Delivers webhook requests one at a time from a daemon thread; records every outcome."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self.deliveries: list[WebhookDelivery] = []
        self._queue: queue.Queue[WebhookDelivery | None] = queue.Queue()
        self._pending = 0
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None

    def send(self, delivery: WebhookDelivery) -> None:
        with self._idle:
            self._pending += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="gitlab-webhooks", daemon=True)
                self._thread.start()
        self._queue.put(delivery)

    def wait(self, timeout: float = 5.0) -> bool:
        """Block until every queued delivery was attempted; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=self.timeout + 1)
            self._thread = None

    def _run(self) -> None:
        while True:
            delivery = self._queue.get()
            if delivery is None:
                return
            try:
                self._deliver(delivery)
            finally:
                with self._idle:
                    self.deliveries.append(delivery)
                    self._pending -= 1
                    self._idle.notify_all()

    def _deliver(self, delivery: WebhookDelivery) -> None:
        body = json.dumps(delivery.payload).encode()
        req = urllib.request.Request(delivery.url, data=body, headers=delivery.headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                delivery.status = resp.status
        except urllib.error.HTTPError as exc:
            delivery.status = exc.code
            delivery.error = f"HTTP {exc.code}"
        except Exception as exc:  # any failure is GitLab's "hook failed": recorded, never raised
            delivery.error = f"{type(exc).__name__}: {exc}"


def hook_time(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def hook_user(user: GitLabUser) -> dict[str, Any]:
    return {"id": user.id, "name": user.name, "username": user.username, "avatar_url": None, "email": "[REDACTED]"}


def hook_label(label: Label) -> dict[str, Any]:
    return {
        "id": label.id,
        "title": label.title,
        "color": label.color,
        "project_id": label.project_id,
        "created_at": hook_time(label.created_at),
        "updated_at": hook_time(label.created_at),
        "template": False,
        "description": label.description,
        "type": "ProjectLabel",
        "group_id": None,
    }


class Webhooks:
    """The instance's webhooks: what it sends for the model's `IssueEvents`, and to which hooks."""

    def __init__(self, gitlab: GitLab, render: Renderer) -> None:
        self.gitlab = gitlab
        self.render = render
        self.configured: list[Webhook] = []
        self.sender = WebhookSender()

    # --- IssueEvents ----------------------------------------------------------------------------
    def issue_opened(self, project: Project, issue: Issue, actor: GitLabUser) -> None:
        self._issue_hook(project, issue, actor, "open", {})

    def issue_changed(
        self, project: Project, issue: Issue, actor: GitLabUser, before: dict[str, Any], after: dict[str, Any]
    ) -> None:
        """A close or reopen is its own hook; then one update hook for the other changes, if any."""
        changes: dict[str, Any] = {
            "updated_at": {"previous": hook_time(before["updated_at"]), "current": hook_time(issue.updated_at)}
        }
        if after["state"] != before["state"]:
            closed = issue.state == "closed"
            state_changes = dict(changes)
            state_changes["state_id"] = {"previous": 1 if closed else 2, "current": 2 if closed else 1}
            state_changes["closed_at"] = {
                "previous": hook_time(before["closed_at"]),
                "current": hook_time(issue.closed_at),
            }
            self._issue_hook(project, issue, actor, "close" if closed else "reopen", state_changes)
        for key in ("title", "description", "confidential", "discussion_locked"):
            if after[key] != before[key]:
                changes[key] = {"previous": before[key], "current": after[key]}
        if after["labels"] != before["labels"]:
            changes["labels"] = {
                "previous": [hook_label(project.labels[t.lower()]) for t in before["labels"]],
                "current": [hook_label(project.labels[t.lower()]) for t in after["labels"]],
            }
        if after["assignee_ids"] != before["assignee_ids"]:
            changes["assignees"] = {
                "previous": [hook_user(self.gitlab.users[i]) for i in before["assignee_ids"]],
                "current": [hook_user(self.gitlab.users[i]) for i in issue.assignee_ids],
            }
        if len(changes) > 1:
            self._issue_hook(project, issue, actor, "update", changes)

    def note_added(self, project: Project, issue: Issue, note: Note, actor: GitLabUser) -> None:
        self._note_hook(project, issue, note, "create")

    def note_edited(self, project: Project, issue: Issue, note: Note) -> None:
        self._note_hook(project, issue, note, "update")

    # --- payloads -------------------------------------------------------------------------------
    def _hooks_for(self, project: Project, kind: str, confidential: bool) -> Iterator[Webhook]:
        for hook in self.configured:
            if hook.project is not None and self.gitlab.project(hook.project).id != project.id:
                continue
            if confidential and not hook.confidential_events:
                continue
            if (kind == "issue" and hook.issues_events) or (kind == "note" and hook.note_events):
                yield hook

    def _issue_hook(
        self, project: Project, issue: Issue, actor: GitLabUser, action: str, changes: dict[str, Any]
    ) -> None:
        attributes = self._hook_issue_attributes(project, issue)
        attributes["action"] = action
        payload = {
            "object_kind": "issue",
            "event_type": "confidential_issue" if issue.confidential else "issue",
            "user": hook_user(actor),
            "project": self._hook_project(project),
            "object_attributes": attributes,
            "labels": attributes["labels"],
            "changes": changes,
            "repository": self._repository(project),
            "assignees": [hook_user(self.gitlab.users[i]) for i in issue.assignee_ids],
        }
        event = "Confidential Issue Hook" if issue.confidential else "Issue Hook"
        self._queue_hooks(project, "issue", issue.confidential, event, payload)

    def _note_hook(self, project: Project, issue: Issue, note: Note, action: str) -> None:
        # `user` is the note's author for an edit too (Notes::UpdateService builds the hook with note.author);
        # who edited it is `updated_by_id`.
        author = self.gitlab.users[note.author_id]
        attributes = {
            "id": note.id,
            "note": note.body,
            "noteable_type": "Issue",
            "author_id": author.id,
            "created_at": hook_time(note.created_at),
            "updated_at": hook_time(note.updated_at),
            "project_id": project.id,
            "attachment": None,
            "line_code": None,
            "commit_id": "",
            "noteable_id": issue.id,
            "system": False,
            "st_diff": None,
            "updated_by_id": note.updated_by_id,
            "type": None,
            "position": None,
            "internal": False,
            "discussion_id": uuid.uuid5(uuid.NAMESPACE_URL, f"note-{note.id}").hex,
            "url": f"{self.render.issue_url(project, issue)}#note_{note.id}",
            "action": action,
            "description": note.body,
        }
        payload = {
            "object_kind": "note",
            "event_type": "confidential_note" if issue.confidential else "note",
            "user": hook_user(author),
            "project_id": project.id,
            "project": self._hook_project(project),
            "object_attributes": attributes,
            "repository": self._repository(project),
            "issue": self._hook_issue_attributes(project, issue),
        }
        event = "Confidential Note Hook" if issue.confidential else "Note Hook"
        self._queue_hooks(project, "note", issue.confidential, event, payload)

    def _hook_project(self, project: Project) -> dict[str, Any]:
        web_url = self.render.project_url(project)
        return {
            "id": project.id,
            "name": project.path,
            "description": project.description,
            "web_url": web_url,
            "avatar_url": None,
            "git_ssh_url": f"git@{self.render.base_url.split('://', 1)[-1]}:{project.path_with_namespace}.git",
            "git_http_url": f"{web_url}.git",
            "namespace": project.namespace_path.rsplit("/", 1)[-1],
            "visibility_level": 0,
            "path_with_namespace": project.path_with_namespace,
            "default_branch": "main",
            "ci_config_path": None,
            "homepage": web_url,
            "url": f"{web_url}.git",
            "ssh_url": f"git@{self.render.base_url.split('://', 1)[-1]}:{project.path_with_namespace}.git",
            "http_url": f"{web_url}.git",
        }

    def _repository(self, project: Project) -> dict[str, Any]:
        return {
            "name": project.path,
            "url": f"{self.render.project_url(project)}.git",
            "description": project.description,
            "homepage": self.render.project_url(project),
        }

    def _hook_issue_attributes(self, project: Project, issue: Issue) -> dict[str, Any]:
        return {
            "id": issue.id,
            "iid": issue.iid,
            "title": issue.title,
            "description": issue.description,
            "assignee_ids": list(issue.assignee_ids),
            "assignee_id": issue.assignee_ids[0] if issue.assignee_ids else None,
            "author_id": issue.author_id,
            "project_id": project.id,
            "created_at": hook_time(issue.created_at),
            "updated_at": hook_time(issue.updated_at),
            "updated_by_id": None,
            "closed_at": hook_time(issue.closed_at),
            "confidential": issue.confidential,
            "discussion_locked": issue.discussion_locked,
            "due_date": None,
            "milestone_id": None,
            "moved_to_id": issue.moved_to_id,
            "duplicated_to_id": None,
            "state_id": 2 if issue.state == "closed" else 1,
            "state": issue.state,
            "type": "Issue",
            "url": self.render.issue_url(project, issue),
            "labels": [hook_label(project.labels[t.lower()]) for t in issue.labels],
            "severity": "unknown",
        }

    def _queue_hooks(
        self, project: Project, kind: str, confidential: bool, event: str, payload: dict[str, Any]
    ) -> None:
        # Built under the stand-in's lock; `send` only enqueues, so the order of events is kept.
        for hook in self._hooks_for(project, kind, confidential):
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "GitLab/18.2.0",
                "X-Gitlab-Event": event,
                "X-Gitlab-Event-UUID": str(uuid.uuid4()),
                "X-Gitlab-Webhook-UUID": str(uuid.uuid5(uuid.NAMESPACE_URL, hook.url)),
                "X-Gitlab-Instance": self.render.base_url,
                "Idempotency-Key": str(uuid.uuid4()),
            }
            if hook.secret_token is not None:
                headers["X-Gitlab-Token"] = hook.secret_token
            self.sender.send(WebhookDelivery(hook.url, event, json.loads(json.dumps(payload)), headers))
