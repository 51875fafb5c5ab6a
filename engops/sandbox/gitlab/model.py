"""The GitLab instance the stand-in pretends to be: users, projects, labels, issues and notes, and
what changes them the way GitLab does (validation, quick actions run with the author's rights,
system notes). No HTTP here: what GitLab refuses is raised as its answer (`errors.ApiError`), and
what happened is told to an `IssueEvents` (the webhooks).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from engops.sandbox.gitlab.errors import bad_request, message_error
from engops.sandbox.gitlab.text import (
    extract_quick_actions,
    fuzzy_match,
    mass_mention_lines,
    parse_label_refs,
    parse_user_refs,
)

TITLE_MAX = 255
DESCRIPTION_MAX = 1_048_576
NOTE_MAX = 1_000_000
DEFAULT_LABEL_COLOR = "#6699cc"

# Project roles by access level (GitLab's Gitlab::Access).
GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER = 10, 20, 30, 40, 50


def now() -> float:
    return time.time()


@dataclass
class GitLabUser:
    id: int
    username: str
    name: str
    email: str
    public_email: str | None
    state: str = "active"
    bot: bool = False
    is_admin: bool = False


@dataclass(frozen=True)
class AccessToken:
    """A personal (or project/group) access token: whose it is and what its scopes allow."""

    id: int
    name: str
    user_id: int
    scopes: tuple[str, ...]


@dataclass
class Label:
    id: int
    title: str
    project_id: int
    color: str = DEFAULT_LABEL_COLOR
    description: str | None = None
    created_at: float = field(default_factory=now)


@dataclass
class Note:
    id: int
    body: str
    author_id: int
    system: bool
    created_at: float = field(default_factory=now)
    updated_at: float = field(default_factory=now)
    updated_by_id: int | None = None  # who last edited it (GitLab sets it on the first edit)


@dataclass
class Issue:
    id: int
    iid: int
    project_id: int
    title: str
    description: str
    author_id: int
    labels: list[str] = field(default_factory=list)
    assignee_ids: list[int] = field(default_factory=list)
    confidential: bool = False
    state: str = "opened"
    discussion_locked: bool | None = None
    created_at: float = field(default_factory=now)
    updated_at: float = field(default_factory=now)
    closed_at: float | None = None
    closed_by_id: int | None = None
    notes: list[Note] = field(default_factory=list)
    moved_to_id: int | None = None  # the issue (its global id) it was moved to; it is closed


@dataclass
class Project:
    id: int
    path_with_namespace: str
    namespace_id: int
    description: str = ""
    visible: bool = True  # False: the token's user cannot see it (GitLab answers 404)
    writable: bool = True  # False: the token's user may read but not write (403)
    labels: dict[str, Label] = field(default_factory=dict)
    members: dict[int, int] = field(default_factory=dict)  # user id -> access level
    issues: dict[int, Issue] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return self.path_with_namespace.rsplit("/", 1)[-1]

    @property
    def namespace_path(self) -> str:
        return self.path_with_namespace.rsplit("/", 1)[0]


@dataclass(frozen=True)
class QuickActionRecord:
    project: str
    iid: int
    source: str  # "description" | "note"
    command: str
    argument: str
    by: str
    applied: bool


@dataclass(frozen=True)
class MassMention:
    project: str
    iid: int
    source: str
    by: str
    line: str


@dataclass
class NoteResult:
    note: Note | None = None  # None: the body held only quick actions
    commands_changes: dict[str, Any] = field(default_factory=dict)
    summary: list[str] = field(default_factory=list)


def validate_text(title: str, description: str) -> None:
    errors: dict[str, list[str]] = {}
    if not title.strip():
        errors["title"] = ["can't be blank"]
    elif len(title) > TITLE_MAX:
        errors["title"] = [f"is too long (maximum is {TITLE_MAX} characters)"]
    if len(description) > DESCRIPTION_MAX:
        errors["description"] = [f"is too long (maximum is {DESCRIPTION_MAX} characters)"]
    if errors:
        raise message_error(400, errors)


def snapshot(issue: Issue) -> dict[str, Any]:
    return {
        "state": issue.state,
        "title": issue.title,
        "description": issue.description,
        "labels": list(issue.labels),
        "assignee_ids": list(issue.assignee_ids),
        "confidential": issue.confidential,
        "discussion_locked": issue.discussion_locked,
        "closed_at": issue.closed_at,
        "updated_at": issue.updated_at,
    }


def user_matches(user: GitLabUser, query: str, viewer: GitLabUser) -> bool:
    """GitLab's user search: name or username (fuzzy), or an email `viewer` may see (exact)."""
    query = query.removeprefix("@").strip().lower()
    if not query:
        return False
    emails = {user.email} if viewer.is_admin else set()
    if user.public_email:
        emails.add(user.public_email)
    return query in emails or fuzzy_match(query, user.name) or fuzzy_match(query, user.username)


class IssueEvents(Protocol):
    """What GitLab sends webhooks about; called under the instance's lock, in the order it happened."""

    def issue_opened(self, project: Project, issue: Issue, actor: GitLabUser) -> None: ...

    def issue_changed(
        self, project: Project, issue: Issue, actor: GitLabUser, before: dict[str, Any], after: dict[str, Any]
    ) -> None:
        """`before` and `after` are `snapshot`s; `issue.updated_at` is already the time of the change."""

    def note_added(self, project: Project, issue: Issue, note: Note, actor: GitLabUser) -> None: ...

    def note_edited(self, project: Project, issue: Issue, note: Note) -> None:
        """The note's text changed (`note.updated_by_id` edited it); deleting a note sends nothing."""


class GitLab:
    """One GitLab instance's state. Seeding and the act-as-a-user helpers take `lock` themselves; the
    operations (`create_issue`, `update_issue`, `add_note`, `edit_note`, `delete_note`) expect it held, as the routes
    hold it."""

    def __init__(
        self, bot_username: str, *, lock: threading.RLock, events: IssueEvents, multiple_assignees: bool = True
    ) -> None:
        self.lock = lock
        self.events = events
        self.multiple_assignees = multiple_assignees  # False: GitLab Free keeps only the first assignee
        self.users: dict[int, GitLabUser] = {}
        self.projects: dict[int, Project] = {}
        self.quick_actions: list[QuickActionRecord] = []
        self.mass_mentions: list[MassMention] = []
        self._ids: dict[str, int] = {}
        self.bot = self.add_user(bot_username, "EngOps Bot", f"{bot_username}@noreply.example.com", bot=True)

    # --- seeding --------------------------------------------------------------------------------
    def _next_id(self, kind: str, start: int = 1) -> int:
        self._ids[kind] = self._ids.get(kind, start - 1) + 1
        return self._ids[kind]

    def add_user(
        self, username: str, name: str, email: str, *, public: bool = True, bot: bool = False, is_admin: bool = False
    ) -> GitLabUser:
        with self.lock:
            user = GitLabUser(
                id=self._next_id("user"),
                username=username,
                name=name,
                email=email.lower(),
                public_email=email.lower() if public else None,
                bot=bot,
                is_admin=is_admin,
            )
            self.users[user.id] = user
            for project in self.projects.values():
                project.members[user.id] = DEVELOPER
            return user

    def add_project(
        self,
        path_with_namespace: str,
        *,
        writable: bool = True,
        visible: bool = True,
        labels: Iterable[str] = (),
        members: Iterable[str] | None = None,
    ) -> Project:
        """A project; by default every known user is a Developer in it (assignable) and the bot can write."""
        with self.lock:
            namespace = path_with_namespace.rsplit("/", 1)[0]
            project = Project(
                id=self._next_id("project", 100),
                path_with_namespace=path_with_namespace,
                namespace_id=self._namespace_id(namespace),
                writable=writable,
                visible=visible,
            )
            names = [u.username for u in self.users.values()] if members is None else [self.bot.username, *members]
            project.members = {self.user_by_username(u).id: DEVELOPER for u in names}
            self.projects[project.id] = project
            for title in labels:
                self._ensure_label(project, title)
            return project

    def add_labels(self, project: str, *titles: str) -> None:
        with self.lock:
            proj = self.project(project)
            for title in titles:
                self._ensure_label(proj, title)

    def set_project_access(self, project: str, *, writable: bool | None = None, visible: bool | None = None) -> None:
        with self.lock:
            proj = self.project(project)
            if writable is not None:
                proj.writable = writable
            if visible is not None:
                proj.visible = visible

    def set_member(self, project: str, username: str, access_level: int | None) -> None:
        """`username`'s role in `project` by access level; None: not a member."""
        with self.lock:
            proj, user = self.project(project), self.user_by_username(username)
            if access_level is None:
                proj.members.pop(user.id, None)
            else:
                proj.members[user.id] = access_level

    def _namespace_id(self, path: str) -> int:
        key = f"namespace:{path}"
        if key not in self._ids:
            self._ids[key] = self._next_id("namespace", 10)
        return self._ids[key]

    # --- lookups --------------------------------------------------------------------------------
    def user_by_username(self, username: str) -> GitLabUser:
        for user in self.users.values():
            if user.username.lower() == username.lower():
                return user
        raise KeyError(username)

    def project(self, ref: str | int) -> Project:
        """A project by numeric id or full path (case-insensitive, like GitLab's routes)."""
        ref = str(ref)
        if ref.isdigit() and int(ref) in self.projects:
            return self.projects[int(ref)]
        for project in self.projects.values():
            if project.path_with_namespace.lower() == ref.lower():
                return project
        raise KeyError(ref)

    def issue_obj(self, project: str | int, iid: int) -> Issue:
        return self.project(project).issues[iid]

    @staticmethod
    def note_obj(issue: Issue, note_id: int) -> Note:
        for note in issue.notes:
            if note.id == note_id:
                return note
        raise KeyError(note_id)

    # --- operations shared by the API and the test helpers ------------------------------------------
    def create_issue(
        self,
        project: Project,
        actor: GitLabUser,
        *,
        title: str,
        description: str = "",
        labels: list[str] | None = None,
        assignee_ids: list[int] | None = None,
        confidential: bool = False,
    ) -> Issue:
        description, commands = extract_quick_actions(description)
        validate_text(title, description)
        issue = Issue(
            id=self._next_id("issue"),
            iid=max(project.issues, default=0) + 1,
            project_id=project.id,
            title=title.strip(),
            description=description,
            author_id=actor.id,
            confidential=confidential,
        )
        if self._can_set_metadata(project, actor):  # else GitLab drops them without a word
            issue.labels = sorted({self._ensure_label(project, t).title for t in labels or []})
            issue.assignee_ids = self._assignable(project, assignee_ids or [])
        self._record_mentions(project, issue, "description", actor, description)
        # Quick actions of a new issue: state changes and /title are dropped (IssuableBaseService#create).
        for name, arg in commands:
            applied = False
            if name not in ("close", "reopen", "title"):
                applied = self._apply_command(project, issue, actor, name, arg)
            self._record_command(project, issue, "description", actor, name, arg, applied)
        project.issues[issue.iid] = issue
        self.events.issue_opened(project, issue, actor)
        return issue

    def update_issue(self, issue: Issue, actor: GitLabUser, **changes: Any) -> None:
        project = self.projects[issue.project_id]
        before = snapshot(issue)
        commands: list[tuple[str, str]] = []
        if "description" in changes:
            changes["description"], commands = extract_quick_actions(changes["description"])
            validate_text(changes.get("title", issue.title), changes["description"])
            self._record_mentions(project, issue, "description", actor, changes["description"])
        elif "title" in changes:
            validate_text(changes["title"], issue.description)
        for name, arg in commands:
            applied = self._apply_command(project, issue, actor, name, arg)
            self._record_command(project, issue, "description", actor, name, arg, applied)
        self._apply_changes(project, issue, actor, changes)
        self._after_change(project, issue, actor, before)

    def add_note(self, issue: Issue, actor: GitLabUser, body: str) -> NoteResult:
        """Add a note, executing its quick actions; no note is stored when it held only quick actions."""
        project = self.projects[issue.project_id]
        text, commands = extract_quick_actions(body)
        if not text.strip() and not commands:
            raise bad_request('Note {:note=>["can\'t be blank"]}')
        if len(text) > NOTE_MAX:
            raise bad_request(f'Note {{:note=>["is too long (maximum is {NOTE_MAX} characters)"]}}')
        before = snapshot(issue)
        result = NoteResult()
        for name, arg in commands:
            applied = self._apply_command(project, issue, actor, name, arg)
            self._record_command(project, issue, "note", actor, name, arg, applied)
            if applied:
                key, value = ("state_event", name) if name in ("close", "reopen") else (name, arg or True)
                result.commands_changes[key] = value
                result.summary.append(f"Ran /{name} {arg}".rstrip() + ".")
        note = None
        if text.strip():
            note = Note(id=self._next_id("note"), body=text, author_id=actor.id, system=False)
            issue.notes.append(note)
            issue.updated_at = note.created_at
            self._record_mentions(project, issue, "note", actor, text)
            self.events.note_added(project, issue, note, actor)
        self._after_change(project, issue, actor, before)
        result.note = note
        return result

    def edit_note(self, issue: Issue, note: Note, actor: GitLabUser, body: str) -> Note | None:
        """Edit a note as Notes::UpdateService does: its quick actions run; one left with only quick actions is
        deleted (None); a Note Hook (`action: update`) is sent only when the text changed."""
        project = self.projects[issue.project_id]
        self._require_note_admin(project, note, actor)
        text, commands = extract_quick_actions(body)
        if len(text) > NOTE_MAX:
            raise bad_request(f'Failed to save note {{:note=>["is too long (maximum is {NOTE_MAX} characters)"]}}')
        before = snapshot(issue)
        edited = text.strip() and text != note.body
        if edited:
            note.body, note.updated_at, note.updated_by_id = text, now(), actor.id
            self._record_mentions(project, issue, "note", actor, text)
            self.events.note_edited(project, issue, note)
        for name, arg in commands:
            applied = self._apply_command(project, issue, actor, name, arg)
            self._record_command(project, issue, "note", actor, name, arg, applied)
        if not text.strip():
            issue.notes.remove(note)
        self._after_change(project, issue, actor, before)
        return note if text.strip() else None

    def move(self, issue: Issue, actor: GitLabUser, target: Project) -> Issue:
        """Move `issue` to `target` as Issues::MoveService does: refused (400) unless `actor` may administer issues
        in both projects (Reporter) and the issue was not moved before, or when `target` is its own project. The
        new issue keeps the title, text, author, creation time, state, confidentiality and notes; labels whose title
        exists in `target` and assignees who are members there. Then the old issue gets `moved_to_id` and is closed.
        Events: the new issue's "open" (in `target`, by `actor`), then the old one's close (`moved_to_id` set)."""
        project = self.projects[issue.project_id]
        if issue.moved_to_id is not None or not (self._can_admin(project, actor) and self._can_admin(target, actor)):
            raise message_error(400, "Cannot move issue due to insufficient permissions!")
        if target.id == project.id:
            raise message_error(400, "Cannot move issue to project it originates from!")
        moved = Issue(
            id=self._next_id("issue"),
            iid=max(target.issues, default=0) + 1,
            project_id=target.id,
            title=issue.title,
            description=issue.description,
            author_id=issue.author_id,
            labels=sorted({target.labels[t.lower()].title for t in issue.labels if t.lower() in target.labels}),
            assignee_ids=self._assignable(target, issue.assignee_ids),
            confidential=issue.confidential,
            state=issue.state,
            discussion_locked=issue.discussion_locked,
            created_at=issue.created_at,
            closed_at=issue.closed_at,
            closed_by_id=issue.closed_by_id,
        )
        moved.notes = [
            Note(self._next_id("note"), n.body, n.author_id, n.system, n.created_at, n.updated_at, n.updated_by_id)
            for n in issue.notes
        ]
        self._system_note(moved, actor, f"moved from {project.path_with_namespace}#{issue.iid}")
        target.issues[moved.iid] = moved
        self.events.issue_opened(target, moved, actor)
        before = snapshot(issue)
        issue.moved_to_id = moved.id
        self._system_note(issue, actor, f"moved to {target.path_with_namespace}#{moved.iid}")
        self._apply_changes(project, issue, actor, {"state_event": "close"})
        self._after_change(project, issue, actor, before)
        return moved

    def delete_note(self, issue: Issue, note: Note, actor: GitLabUser) -> None:
        """GitLab sends no webhook when a note is deleted (Notes::DestroyService)."""
        self._require_note_admin(self.projects[issue.project_id], note, actor)
        issue.notes.remove(note)

    def _require_note_admin(self, project: Project, note: Note, actor: GitLabUser) -> None:
        # NotePolicy: the author, or a Maintainer of the project, may edit or delete a note; nobody a system note.
        allowed = note.author_id == actor.id or project.members.get(actor.id, 0) >= MAINTAINER or actor.is_admin
        if note.system or not allowed:
            raise message_error(403, "403 Forbidden")

    @staticmethod
    def _can_admin(project: Project, actor: GitLabUser) -> bool:
        """`admin_issue` (moving an issue needs it in both projects): Reporter."""
        return actor.is_admin or project.members.get(actor.id, 0) >= REPORTER

    def _can_set_metadata(self, project: Project, actor: GitLabUser) -> bool:
        """Setting an issue's labels and assignees (`set_issue_metadata`) needs Reporter."""
        return actor.is_admin or project.members.get(actor.id, 0) >= REPORTER

    def _apply_changes(self, project: Project, issue: Issue, actor: GitLabUser, changes: dict[str, Any]) -> None:
        state_event = changes.get("state_event")
        if state_event == "close" and issue.state == "opened":
            issue.state, issue.closed_at, issue.closed_by_id = "closed", now(), actor.id
        elif state_event == "reopen" and issue.state == "closed":
            issue.state, issue.closed_at, issue.closed_by_id = "opened", None, None
        if "title" in changes:
            issue.title = changes["title"].strip()
        if "description" in changes:
            issue.description = changes["description"]
        labels = set(issue.labels)
        if "labels" in changes:
            labels = {self._ensure_label(project, t).title for t in changes["labels"]}
        labels |= {self._ensure_label(project, t).title for t in changes.get("add_labels", [])}
        labels -= set(changes.get("remove_labels", []))
        issue.labels = sorted(labels)
        if "confidential" in changes:
            issue.confidential = changes["confidential"]
        if "discussion_locked" in changes:
            issue.discussion_locked = changes["discussion_locked"]
        if "assignee_ids" in changes:
            wanted = changes["assignee_ids"]
            issue.assignee_ids = [] if wanted in ([], [0]) else self._assignable(project, wanted) or issue.assignee_ids

    def _apply_command(self, project: Project, issue: Issue, actor: GitLabUser, name: str, arg: str) -> bool:
        """Run one quick action with `actor`'s rights; False when GitLab would not apply it."""
        if actor.id not in project.members:
            return False
        if name == "close" and issue.state == "opened":
            self._apply_changes(project, issue, actor, {"state_event": "close"})
        elif name == "reopen" and issue.state == "closed":
            self._apply_changes(project, issue, actor, {"state_event": "reopen"})
        elif name == "title" and arg:
            issue.title = arg
        elif name in ("label", "labels", "relabel"):
            existing = [project.labels[t.lower()].title for t in parse_label_refs(arg) if t.lower() in project.labels]
            if not existing:
                return False
            issue.labels = sorted(set(existing) | (set() if name == "relabel" else set(issue.labels)))
        elif name in ("unlabel", "remove_label") and issue.labels:
            wanted = {t.lower() for t in parse_label_refs(arg)}
            issue.labels = [t for t in issue.labels if wanted and t.lower() not in wanted]
        elif name in ("assign", "reassign"):
            ids = [actor.id if u == "me" else self._user_id(u) for u in parse_user_refs(arg)]
            found = self._assignable(project, [i for i in ids if i is not None])
            if not found:
                return False
            issue.assignee_ids = found if name == "reassign" else list(dict.fromkeys(issue.assignee_ids + found))
            if not self.multiple_assignees:
                issue.assignee_ids = issue.assignee_ids[-1:]
        elif name == "unassign" and issue.assignee_ids:
            names = parse_user_refs(arg)
            drop = {actor.id if u == "me" else self._user_id(u) for u in names}
            issue.assignee_ids = [i for i in issue.assignee_ids if names and i not in drop]
        elif name == "confidential" and not issue.confidential:
            issue.confidential = True
        elif name == "lock" and not issue.discussion_locked:
            issue.discussion_locked = True
        elif name == "unlock" and issue.discussion_locked:
            issue.discussion_locked = False
        else:
            return False
        return True

    def _after_change(self, project: Project, issue: Issue, actor: GitLabUser, before: dict[str, Any]) -> None:
        """System notes for what changed since `before`, then the event (the Issue Hooks)."""
        after = snapshot(issue)
        if after == before:
            return
        issue.updated_at = now()
        if after["state"] != before["state"]:
            self._system_note(issue, actor, "closed" if issue.state == "closed" else "reopened")
        if after["labels"] != before["labels"]:
            added = [t for t in after["labels"] if t not in before["labels"]]
            removed = [t for t in before["labels"] if t not in after["labels"]]
            parts = [f"added {self._label_refs(project, added)}"] if added else []
            parts += [f"removed {self._label_refs(project, removed)}"] if removed else []
            self._system_note(issue, actor, " and ".join(parts) + (" labels" if len(added + removed) > 1 else " label"))
        if after["assignee_ids"] != before["assignee_ids"]:
            names = ", ".join(f"@{self.users[i].username}" for i in issue.assignee_ids)
            self._system_note(issue, actor, f"assigned to {names}" if names else "removed all assignees")
        if after["title"] != before["title"]:
            self._system_note(issue, actor, f"changed title from **{before['title']}** to **{issue.title}**")
        if after["confidential"] != before["confidential"]:
            self._system_note(
                issue,
                actor,
                "made the issue confidential" if issue.confidential else "made the issue visible to everyone",
            )
        self.events.issue_changed(project, issue, actor, before, after)

    def _system_note(self, issue: Issue, actor: GitLabUser, body: str) -> None:
        # System notes are listed by the notes API but never trigger Note Hooks (Notes::PostProcessService).
        issue.notes.append(Note(id=self._next_id("note"), body=body, author_id=actor.id, system=True))

    # --- test helpers: act as a GitLab user --------------------------------------------------------
    def close_issue(self, project: str, iid: int, by: str) -> None:
        self._as_user(by, lambda actor: self.update_issue(self.issue_obj(project, iid), actor, state_event="close"))

    def reopen_issue(self, project: str, iid: int, by: str) -> None:
        self._as_user(by, lambda actor: self.update_issue(self.issue_obj(project, iid), actor, state_event="reopen"))

    def open_issue(
        self, project: str, title: str, *, by: str, description: str = "", confidential: bool = False
    ) -> int:
        """An issue filed by `by` (as through that user's own token); returns its iid."""
        with self.lock:
            issue = self.create_issue(
                self.project(project),
                self.user_by_username(by),
                title=title,
                description=description,
                confidential=confidential,
            )
            return issue.iid

    def comment(self, project: str, iid: int, body: str, by: str) -> int | None:
        """A note by `by`; its id (None when it held only quick actions)."""
        with self.lock:
            note = self.add_note(self.issue_obj(project, iid), self.user_by_username(by), body).note
            return note.id if note else None

    def edit_comment(self, project: str, iid: int, note_id: int, body: str, by: str) -> None:
        with self.lock:
            issue = self.issue_obj(project, iid)
            self.edit_note(issue, self.note_obj(issue, note_id), self.user_by_username(by), body)

    def delete_comment(self, project: str, iid: int, note_id: int, by: str) -> None:
        with self.lock:
            issue = self.issue_obj(project, iid)
            self.delete_note(issue, self.note_obj(issue, note_id), self.user_by_username(by))

    def relabel(self, project: str, iid: int, *, add: Iterable[str] = (), remove: Iterable[str] = (), by: str) -> None:
        changes = {"add_labels": list(add), "remove_labels": list(remove)}
        self._as_user(by, lambda actor: self.update_issue(self.issue_obj(project, iid), actor, **changes))

    def move_issue(self, project: str, iid: int, to: str, *, by: str) -> int:
        """Move the issue to the project `to` as `by` ("Move issue" in GitLab's UI); the new issue's iid."""
        with self.lock:
            return self.move(self.issue_obj(project, iid), self.user_by_username(by), self.project(to)).iid

    def _as_user(self, username: str, action: Callable[[GitLabUser], object]) -> None:
        with self.lock:
            action(self.user_by_username(username))

    # --- internals -----------------------------------------------------------------------------
    def _ensure_label(self, project: Project, title: str) -> Label:
        title = title.strip()
        if not title or len(title) > TITLE_MAX:
            raise message_error(400, {"labels": ["is invalid"]})
        if title.lower() not in project.labels:
            project.labels[title.lower()] = Label(id=self._next_id("label"), title=title, project_id=project.id)
        return project.labels[title.lower()]

    def _assignable(self, project: Project, ids: list[int]) -> list[int]:
        """Like GitLab: unknown users and non-members are dropped; Free tier keeps only the first."""
        wanted = ids if self.multiple_assignees else ids[:1]
        return [i for i in dict.fromkeys(wanted) if i in self.users and i in project.members]

    def _user_id(self, username: str) -> int | None:
        try:
            return self.user_by_username(username).id
        except KeyError:
            return None

    def _record_command(
        self, project: Project, issue: Issue, source: str, actor: GitLabUser, name: str, arg: str, applied: bool
    ) -> None:
        self.quick_actions.append(
            QuickActionRecord(project.path_with_namespace, issue.iid, source, name, arg, actor.username, applied)
        )

    def _record_mentions(self, project: Project, issue: Issue, source: str, actor: GitLabUser, text: str) -> None:
        for line in mass_mention_lines(text):
            self.mass_mentions.append(MassMention(project.path_with_namespace, issue.iid, source, actor.username, line))

    def _label_refs(self, project: Project, titles: list[str]) -> str:
        return " ".join(f"~{project.labels[t.lower()].id}" for t in titles)
