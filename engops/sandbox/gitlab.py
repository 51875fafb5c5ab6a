"""GitLab stand-in: the REST v4 subset the bot uses, with quick actions executed like GitLab does.

What it mirrors, because the bot's correctness depends on it:
- project ids as numbers or URL-encoded paths (`group%2Fsub%2Fproject`); werkzeug decodes `%2F`,
  so routing works on the raw request path;
- `PRIVATE-TOKEN` / `Bearer` auth, 401/403/404 bodies, Grape-style 400s, `X-*` pagination headers
  with a `Link` header that python-gitlab's `get_all=True` follows;
- 429 with `RateLimit-*` and `Retry-After`, plus a separate per-minute issue-creation limit;
- quick actions (`/close`, `/label ~x`, ...) on their own line of a description or note are
  removed from the text and executed with the author's rights; lines in fenced code or quotes are
  not. As in GitLab, a new issue cannot be closed from its own description (`IssuableBaseService
  #create` drops `state_event`), but labels, assignees and confidentiality do apply. Every extracted
  quick action is recorded in `quick_actions` (with `applied`), so injection tests can assert that
  none ran; `@all` / `@here` mentions outside code are recorded in `mass_mentions`;
- Issue Hook / Note Hook webhooks (Confidential ... Hook for confidential issues) with GitLab's
  payload shape, delivered from a background thread; failures are recorded, never raised.
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Any
from urllib.parse import quote, unquote, urlencode

from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Request, Response

from engops.sandbox.base import FixedWindowLimiter, StandIn, json_response
from engops.sandbox.directory import Directory

API = "/api/v4"
DEFAULT_TOKEN = "glpat-sandbox-engops-bot"
FALLBACK_URL = "http://gitlab.localhost"
TITLE_MAX = 255
DESCRIPTION_MAX = 1_048_576
NOTE_MAX = 1_000_000
DEFAULT_LABEL_COLOR = "#6699cc"
ISSUE_CREATE_LIMIT_MESSAGE = "This endpoint has been requested too many times. Try again later."

# Every command name GitLab's extractor knows (it extracts all of them, then runs the available ones).
# fmt: off
QUICK_ACTION_NAMES = frozenset((
    "close", "reopen", "title", "label", "labels", "unlabel", "remove_label", "relabel", "todo", "done", "subscribe",
    "unsubscribe", "react", "award", "severity", "confidential", "assign", "unassign", "reassign", "assign_reviewer",
    "request_review", "unassign_reviewer", "milestone", "remove_milestone", "due", "remove_due_date", "weight",
    "clear_weight", "estimate", "estimate_time", "remove_estimate", "remove_time_estimate", "spend", "spent",
    "spend_time", "remove_time_spent", "lock", "unlock", "duplicate", "move", "clone", "copy_metadata", "board_move",
    "create_merge_request", "zoom", "remove_zoom", "epic", "remove_epic", "iteration", "remove_iteration",
    "health_status", "clear_health_status", "promote", "promote_to_incident", "relate", "unrelate", "blocks",
    "blocked_by", "page", "add_contacts", "remove_contacts", "timeline", "invite_email", "remove_email", "status",
    "type", "set_parent", "remove_parent", "add_child", "remove_child", "merge", "approve", "unapprove", "rebase",
    "draft", "ready", "target_branch", "submit_review", "q", "checkin_reminder",
))
# fmt: on
SUBSTITUTIONS = {"shrug": "¯\\＿(ツ)＿/¯", "tableflip": "(╯°□°)╯︵ ┻━┻"}
_COMMAND_LINE = re.compile(r"^/(?P<cmd>[A-Za-z_]+)(?:[ ](?P<arg>[^\n]*))?\s*$")
_FENCE_OPEN = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_MASS_MENTION = re.compile(r"(?<![A-Za-z0-9_.+\-/@])@(?P<who>all|here)(?![A-Za-z0-9_\-]|\.[A-Za-z0-9_])", re.IGNORECASE)
_INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
_LABEL_REF = re.compile(r'~"(?P<quoted>[^"]+)"|~(?P<tilde>[^\s~"]+)|(?P<plain>[^\s~"]+)')


# --- quick-action and mention parsing (pure functions) -----------------------------------------


@dataclass(frozen=True)
class MarkdownLine:
    text: str
    in_code: bool  # fenced code block (``` or ~~~), incl. its fences
    in_quote: bool  # `>` quote line or inside a GitLab `>>>` block


def scan_markdown(text: str) -> list[MarkdownLine]:
    """Classify each line of `text` the way GitLab's markdown pipeline sees it (the parts that matter).

    An unclosed fence runs to the end of the text, as in CommonMark. Other places GitLab also leaves
    alone (list continuations, HTML blocks, inline code spanning lines) are treated as plain text
    here, so the stand-in errs on the side of executing.
    """
    raw = text.split("\n")
    lines: list[MarkdownLine] = []
    fence: tuple[str, int] | None = None
    in_multiline_quote = False
    for n, line in enumerate(raw):
        indent = len(line) - len(line.lstrip(" "))
        stripped = line.strip()
        if fence is not None:
            char, length = fence
            if indent <= 3 and stripped and set(stripped) == {char} and len(stripped) >= length:
                fence = None
            lines.append(MarkdownLine(line, True, False))
            continue
        # GitLab's `>>>` block quote needs its closing `>>>`; unclosed, it is plain text.
        if line.rstrip() == ">>>" and (in_multiline_quote or ">>>" in (r.rstrip() for r in raw[n + 1 :])):
            in_multiline_quote = not in_multiline_quote
            lines.append(MarkdownLine(line, False, True))
            continue
        if in_multiline_quote:
            lines.append(MarkdownLine(line, False, True))
            continue
        opened = _FENCE_OPEN.match(line)
        if opened and not (opened["fence"][0] == "`" and "`" in opened["info"]):
            fence = (opened["fence"][0], len(opened["fence"]))
            lines.append(MarkdownLine(line, True, False))
            continue
        lines.append(MarkdownLine(line, False, indent <= 3 and stripped.startswith(">")))
    return lines


def extract_quick_actions(text: str) -> tuple[str, list[tuple[str, str]]]:
    """Return (text without quick-action lines, [(command, argument), ...]) like GitLab's extractor."""
    commands: list[tuple[str, str]] = []
    kept: list[str] = []
    for line in scan_markdown(text.replace("\r", "")):
        match = None if (line.in_code or line.in_quote) else _COMMAND_LINE.match(line.text)
        name = match["cmd"].lower() if match else ""
        if match and name in QUICK_ACTION_NAMES:
            commands.append((name, (match["arg"] or "").strip()))
            continue
        if match and name in SUBSTITUTIONS:
            kept.append(f"{(match['arg'] or '').strip()} {SUBSTITUTIONS[name]}".strip())
            continue
        kept.append(line.text)
    return "\n".join(kept).rstrip(), commands


def mass_mention_lines(text: str) -> list[str]:
    """Lines that would notify everyone (`@all`, `@here`) outside code blocks and code spans."""
    found = []
    for line in scan_markdown(text.replace("\r", "")):
        if not line.in_code and _MASS_MENTION.search(_INLINE_CODE.sub("", line.text)):
            found.append(line.text)
    return found


def parse_label_refs(argument: str) -> list[str]:
    names = []
    for m in _LABEL_REF.finditer(argument):
        names.append((m["quoted"] or m["tilde"] or m["plain"]).strip())
    return [n for n in names if n]


def parse_user_refs(argument: str) -> list[str]:
    return [word.lstrip("@") for word in argument.replace(",", " ").split() if word.lstrip("@")]


def fuzzy_match(query: str, haystack: str) -> bool:
    """GitLab's `fuzzy_search`: every word of 3+ chars (or "quoted phrase") is a substring; else exact."""
    query = " ".join(query.split())
    if not query:
        return True
    quoted = re.findall(r'"[^"]+"', query)
    rest = query
    for q in quoted:
        rest = rest.replace(q, "", 1)
    words = [w for w in rest.split() + [q[1:-1] for q in quoted] if len(w) >= 3]
    hay = haystack.lower()
    if not words:
        return hay == query.lower()
    return all(w.lower() in hay for w in words)


# --- state ---------------------------------------------------------------------------------


def _now() -> float:
    return time.time()


def api_time(ts: float | None) -> str | None:
    if ts is None:
        return None
    dt = datetime.fromtimestamp(ts, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def hook_time(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


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


@dataclass
class Label:
    id: int
    title: str
    project_id: int
    color: str = DEFAULT_LABEL_COLOR
    description: str | None = None
    created_at: float = field(default_factory=_now)


@dataclass
class Note:
    id: int
    body: str
    author_id: int
    system: bool
    created_at: float = field(default_factory=_now)
    updated_at: float = field(default_factory=_now)


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
    created_at: float = field(default_factory=_now)
    updated_at: float = field(default_factory=_now)
    closed_at: float | None = None
    closed_by_id: int | None = None
    notes: list[Note] = field(default_factory=list)


@dataclass
class Project:
    id: int
    path_with_namespace: str
    namespace_id: int
    description: str = ""
    visible: bool = True  # False: the token's user cannot see it (GitLab answers 404)
    writable: bool = True  # False: the token's user may read but not write (403)
    labels: dict[str, Label] = field(default_factory=dict)
    members: set[int] = field(default_factory=set)
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


@dataclass
class NoteResult:
    note: Note | None = None  # None: the body held only quick actions
    commands_changes: dict[str, Any] = field(default_factory=dict)
    summary: list[str] = field(default_factory=list)


class _ApiError(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def _message(status: int, message: Any) -> _ApiError:
    return _ApiError(json_response({"message": message}, status))


def _bad_request(error: str) -> _ApiError:
    return _ApiError(json_response({"error": error}, 400))


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


# --- the stand-in ------------------------------------------------------------------------------


class GitLabStandIn(StandIn):
    name = "gitlab"

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "engops-bot",
        *,
        external_url: str | None = None,
        multiple_assignees: bool = True,
    ) -> None:
        super().__init__()
        # GitLab's external_url; None: the URL clients reach the stand-in on (python-gitlab warns when a
        # response's web_url has another base).
        self.external_url = external_url.rstrip("/") if external_url else None
        self._seen_url: str | None = None
        self.multiple_assignees = multiple_assignees  # False: GitLab Free keeps only the first assignee
        self.users: dict[int, GitLabUser] = {}
        self.projects: dict[int, Project] = {}
        self.quick_actions: list[QuickActionRecord] = []
        self.mass_mentions: list[MassMention] = []
        self.webhooks: list[Webhook] = []
        self.webhook_sender = WebhookSender()
        self.issue_create_limiter: FixedWindowLimiter | None = None
        self._tokens: dict[str, int] = {}
        self._ids: dict[str, int] = {}
        self.bot = self.add_user(bot_username, "EngOps Bot", f"{bot_username}@noreply.example.com", bot=True)
        self.add_token(token, bot_username)
        self._routes()

    # --- seeding and configuration ------------------------------------------------------------
    @classmethod
    def from_directory(
        cls,
        directory: Directory,
        token: str = DEFAULT_TOKEN,
        *,
        private_emails: Iterable[str] = ("frank@example.com",),
        **kwargs: Any,
    ) -> GitLabStandIn:
        """Users for people with a GitLab username, the bot, and the directory's projects.

        `private_emails` keep their email private, so searching by it finds nobody (the demo
        policy maps frank@example.com to `fwheeler` for exactly that reason).
        """
        gitlab = cls(token, **kwargs)
        hidden = {e.lower() for e in private_emails}
        for person in directory.people:
            if person.gitlab_username:
                gitlab.add_user(person.gitlab_username, person.name, person.email, public=person.email not in hidden)
        for path in directory.gitlab_projects:
            gitlab.add_project(path)
        return gitlab

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
                project.members.add(user.id)
            return user

    def add_token(self, token: str, username: str) -> None:
        with self.lock:
            self._tokens[token] = self.user_by_username(username).id

    def add_project(
        self,
        path_with_namespace: str,
        *,
        writable: bool = True,
        visible: bool = True,
        labels: Iterable[str] = (),
        members: Iterable[str] | None = None,
    ) -> Project:
        """A project; by default every known user is a member (assignable) and the bot can write."""
        with self.lock:
            namespace = path_with_namespace.rsplit("/", 1)[0]
            project = Project(
                id=self._next_id("project", 100),
                path_with_namespace=path_with_namespace,
                namespace_id=self._namespace_id(namespace),
                writable=writable,
                visible=visible,
            )
            if members is None:
                project.members = set(self.users)
            else:
                project.members = {self.bot.id} | {self.user_by_username(u).id for u in members}
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

    def set_issue_create_limit(self, limit: int, period: float = 60.0) -> None:
        """GitLab's per-user issue-creation limit (gitlab.com: 200/min), separate from the API limit."""
        self.issue_create_limiter = FixedWindowLimiter(limit, period)

    def add_webhook(
        self,
        url: str,
        secret_token: str | None = None,
        *,
        project: str | None = None,
        issues_events: bool = True,
        note_events: bool = True,
        confidential_events: bool = True,
    ) -> None:
        self.webhooks.append(Webhook(url, secret_token, project, issues_events, note_events, confidential_events))

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

    # --- vendor hooks ------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        environ = dict(environ)
        environ["PATH_INFO"] = self._routing_path(environ)
        return super().__call__(environ, start_response)

    def _routing_path(self, environ: dict[str, Any]) -> str:
        """PATH_INFO with `%2F` inside a segment kept encoded, so a project path is one segment.

        werkzeug (and waitress) decode `%2F` in PATH_INFO; the raw request line is in REQUEST_URI /
        RAW_URI. Without either, known project paths are re-encoded by longest match.
        """
        raw = environ.get("REQUEST_URI") or environ.get("RAW_URI")
        if raw:
            path = raw.split("?", 1)[0]
            if "://" in path:
                path = "/" + path.split("://", 1)[1].partition("/")[2]
            environ["gitlab.raw_path"] = path
            segments = [unquote(s).replace("/", "%2F") for s in path.split("/")]
            return "/".join(segments).encode("utf-8").decode("latin-1")
        path = str(environ.get("PATH_INFO", ""))
        prefix = f"{API}/projects/"
        if path.startswith(prefix):
            rest = path[len(prefix) :]
            for project in sorted(self.projects.values(), key=lambda p: -len(p.path_with_namespace)):
                full = project.path_with_namespace
                if rest.lower() == full.lower() or rest.lower().startswith(full.lower() + "/"):
                    path = prefix + quote(rest[: len(full)], safe="") + rest[len(full) :]
                    break
        environ["gitlab.raw_path"] = path
        return path

    def _actor(self, request: Request) -> GitLabUser | None:
        token = request.headers.get("PRIVATE-TOKEN")
        auth = request.headers.get("Authorization")
        if auth is not None:
            scheme, _, value = auth.partition(" ")
            if scheme.lower() != "bearer" or not value or (token is not None and token != value):
                return None
            token = value
        if token is None:
            token = request.args.get("private_token") or request.args.get("access_token")
        user_id = self._tokens.get(token or "")
        user = self.users.get(user_id) if user_id is not None else None
        return user if user is not None and user.state == "active" else None

    def authorize(self, request: Request) -> Response | None:
        if self._actor(request) is None:
            return json_response({"message": "401 Unauthorized"}, 401)
        return None

    def error_response(self, status: int, message: str) -> Response:
        if status == 404:  # no such route (Grape's answer)
            return json_response({"error": "404 Not Found"}, 404)
        return json_response({"message": f"{status} {HTTP_STATUS_CODES.get(status, 'Error')}"}, status)

    def rate_limited_response(self, reset: float) -> Response:
        # Rack::Attack answers in plain text; the headers come from rate_limit_headers / _throttle_headers.
        limit = self.limiter.limit if self.limiter else 2000
        resp = Response("Retry later\n", status=429, content_type="text/plain")
        resp.headers.update(self._throttle_headers("throttle_authenticated_api", limit, 0, limit, reset))
        return resp

    def rate_limit_headers(self, limiter: FixedWindowLimiter, remaining: int, reset: float) -> dict[str, str]:
        observed = limiter.limit - remaining if remaining else limiter.limit
        headers = self._throttle_headers("throttle_authenticated_api", limiter.limit, remaining, observed, reset)
        del headers["Retry-After"]  # only a 429 carries it (rate_limited_response adds it)
        return headers

    @staticmethod
    def _throttle_headers(name: str, limit: int, remaining: int, observed: int, reset: float) -> dict[str, str]:
        return {
            "RateLimit-Name": name,
            "RateLimit-Limit": str(limit),
            "RateLimit-Observed": str(observed),
            "RateLimit-Remaining": str(remaining),
            "RateLimit-Reset": str(int(reset + 0.999)),
            "RateLimit-ResetTime": formatdate(reset, usegmt=True),
            "Retry-After": str(max(1, int(reset - time.time() + 0.999))),
        }

    # --- routes ------------------------------------------------------------------------------------
    def _routes(self) -> None:
        proj = f"{API}/projects/<project_ref>"
        self.route(f"{API}/user", ["GET"], self._get_current_user)
        self.route(f"{API}/users", ["GET"], self._list_users)
        self.route(proj, ["GET"], self._get_project)
        self.route(f"{proj}/issues", ["GET", "POST"], self._issues)
        self.route(f"{proj}/issues/<int:iid>", ["GET", "PUT"], self._issue)
        self.route(f"{proj}/issues/<int:iid>/notes", ["GET", "POST"], self._notes)

    @property
    def base_url(self) -> str:
        return self.external_url or self._seen_url or FALLBACK_URL

    def _api(self, request: Request, fn: Callable[..., Response], *args: Any) -> Response:
        self._seen_url = request.host_url.rstrip("/")
        try:
            actor = self._actor(request)
            assert actor is not None  # authorize() ran first
            with self.lock:
                response: Response = fn(request, actor, *args)
            return response
        except _ApiError as exc:
            return exc.response

    def _get_current_user(self, request: Request) -> Response:
        return self._api(request, lambda _r, actor: json_response(self._current_user_json(actor)))

    def _list_users(self, request: Request) -> Response:
        def run(req: Request, actor: GitLabUser) -> Response:
            users = [u for u in self.users.values() if actor.is_admin or u.state == "active"]
            if req.args.get("username"):
                users = [u for u in users if u.username.lower() == req.args["username"].lower()]
            if req.args.get("search"):
                users = [u for u in users if self._user_matches(u, req.args["search"], actor)]
            shown = [self._user_json(u, basic=not actor.is_admin) for u in sorted(users, key=lambda u: u.id)]
            return self._paginate(req, shown)

        return self._api(request, run)

    def _get_project(self, request: Request, project_ref: str) -> Response:
        return self._api(request, lambda _r, actor: json_response(self._project_json(self._find_project(project_ref))))

    def _issues(self, request: Request, project_ref: str) -> Response:
        if request.method == "POST":
            return self._api(request, self._create_issue_api, project_ref)
        return self._api(request, self._list_issues_api, project_ref)

    def _issue(self, request: Request, project_ref: str, iid: int) -> Response:
        if request.method == "PUT":
            return self._api(request, self._update_issue_api, project_ref, iid)
        return self._api(request, lambda _r, actor: json_response(self._issue_json(self._find_issue(project_ref, iid))))

    def _notes(self, request: Request, project_ref: str, iid: int) -> Response:
        if request.method == "POST":
            return self._api(request, self._create_note_api, project_ref, iid)

        def run(req: Request, actor: GitLabUser) -> Response:
            issue = self._find_issue(project_ref, iid)
            order = req.args.get("order_by", "created_at")
            if order not in ("created_at", "updated_at"):
                raise _bad_request("order_by does not have a valid value")
            notes = sorted(issue.notes, key=lambda n: (getattr(n, order), n.id), reverse=req.args.get("sort") != "asc")
            return self._paginate(req, [self._note_json(n, issue) for n in notes])

        return self._api(request, run)

    # --- API handlers ------------------------------------------------------------------------------
    def _create_issue_api(self, request: Request, actor: GitLabUser, project_ref: str) -> Response:
        project = self._find_project(project_ref)
        params = _params(request)
        self._require_write(project)
        if self.issue_create_limiter is not None:
            allowed, _remaining, reset = self.issue_create_limiter.take()
            if not allowed:
                limit = self.issue_create_limiter.limit
                resp = json_response({"message": {"error": ISSUE_CREATE_LIMIT_MESSAGE}}, 429)
                resp.headers.update(self._throttle_headers("issues_create", limit, 0, limit, reset))
                raise _ApiError(resp)
        if "title" not in params:
            raise _bad_request("title is missing")
        assignee_ids = _int_list(params, "assignee_ids") or _int_list(params, "assignee_id")
        issue = self.create_issue(
            project,
            actor,
            title=_string(params, "title"),
            description=_string(params, "description") if params.get("description") is not None else "",
            labels=_labels(params.get("labels")),
            assignee_ids=assignee_ids,
            confidential=_bool(params, "confidential", False),
        )
        return json_response(self._issue_json(issue), 201)

    def _list_issues_api(self, request: Request, actor: GitLabUser, project_ref: str) -> Response:
        project = self._find_project(project_ref)
        args = request.args
        state = args.get("state", "all")
        if state not in ("opened", "closed", "all"):
            raise _bad_request("state does not have a valid value")
        issues = [i for i in project.issues.values() if state == "all" or i.state == state]
        if args.get("author_id"):
            author_id = _parse_int(args["author_id"], "author_id")
            issues = [i for i in issues if i.author_id == author_id]
        if args.get("author_username"):
            wanted = args["author_username"].lower()
            issues = [i for i in issues if self.users[i.author_id].username.lower() == wanted]
        if args.get("assignee_id"):
            assignee_id = _parse_int(args["assignee_id"], "assignee_id")
            issues = [i for i in issues if assignee_id in i.assignee_ids]
        if args.get("confidential") is not None:
            confidential = _bool(dict(args), "confidential", False)
            issues = [i for i in issues if i.confidential == confidential]
        if args.get("labels"):
            issues = [i for i in issues if _labels_filter(i.labels, args["labels"])]
        for key, newer in (("created_after", True), ("created_before", False)):
            if args.get(key):
                bound = _parse_time(args[key], key)
                issues = [i for i in issues if (i.created_at >= bound) == newer]
        if args.get("search"):
            columns = [c for c in args.get("in", "").split(",") if c in ("title", "description")] or [
                "title",
                "description",
            ]
            query = args["search"]
            issues = [i for i in issues if any(fuzzy_match(query, getattr(i, c)) for c in columns)]
        order = args.get("order_by", "created_at")
        if order not in ("created_at", "updated_at", "title"):
            raise _bad_request("order_by does not have a valid value")
        sort = args.get("sort", "desc")
        if sort not in ("asc", "desc"):
            raise _bad_request("sort does not have a valid value")
        issues.sort(key=lambda i: (getattr(i, order), i.id), reverse=sort == "desc")
        return self._paginate(request, [self._issue_json(i) for i in issues])

    def _update_issue_api(self, request: Request, actor: GitLabUser, project_ref: str, iid: int) -> Response:
        issue = self._find_issue(project_ref, iid)
        project = self.projects[issue.project_id]
        params = _params(request)
        known = {"title", "description", "labels", "add_labels", "remove_labels", "state_event", "confidential"}
        known |= {"assignee_ids", "assignee_id", "discussion_locked"}
        if not known & params.keys():
            raise _bad_request(f"{', '.join(sorted(known))} are missing, at least one parameter must be provided")
        self._require_write(project)
        changes: dict[str, Any] = {}
        if "state_event" in params:
            if params["state_event"] not in ("close", "reopen"):
                raise _bad_request("state_event does not have a valid value")
            changes["state_event"] = params["state_event"]
        for key in ("title", "description"):
            if key in params:
                changes[key] = _string(params, key)
        if "labels" in params:
            changes["labels"] = _labels(params["labels"])
        if "add_labels" in params:
            changes["add_labels"] = _labels(params["add_labels"])
        if "remove_labels" in params:
            changes["remove_labels"] = _labels(params["remove_labels"])
        if "confidential" in params:
            changes["confidential"] = _bool(params, "confidential", False)
        if "discussion_locked" in params:
            changes["discussion_locked"] = _bool(params, "discussion_locked", False)
        if "assignee_ids" in params or "assignee_id" in params:
            changes["assignee_ids"] = _int_list(params, "assignee_ids" if "assignee_ids" in params else "assignee_id")
        self.update_issue(issue, actor, **changes)
        return json_response(self._issue_json(issue))

    def _create_note_api(self, request: Request, actor: GitLabUser, project_ref: str, iid: int) -> Response:
        issue = self._find_issue(project_ref, iid)
        params = _params(request)
        if "body" not in params:
            raise _bad_request("body is missing")
        self._require_write(self.projects[issue.project_id])
        result = self.add_note(issue, actor, _string(params, "body"))
        if result.note is None:  # the body was only quick actions: GitLab answers 202 without a note
            return json_response({"commands_changes": result.commands_changes, "summary": result.summary}, 202)
        return json_response(self._note_json(result.note, issue), 201)

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
        _validate_text(title, description)
        issue = Issue(
            id=self._next_id("issue"),
            iid=max(project.issues, default=0) + 1,
            project_id=project.id,
            title=title.strip(),
            description=description,
            author_id=actor.id,
            confidential=confidential,
        )
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
        self._issue_hook(project, issue, actor, "open", {})
        return issue

    def update_issue(self, issue: Issue, actor: GitLabUser, **changes: Any) -> None:
        project = self.projects[issue.project_id]
        before = _snapshot(issue)
        commands: list[tuple[str, str]] = []
        if "description" in changes:
            changes["description"], commands = extract_quick_actions(changes["description"])
            _validate_text(changes.get("title", issue.title), changes["description"])
            self._record_mentions(project, issue, "description", actor, changes["description"])
        elif "title" in changes:
            _validate_text(changes["title"], issue.description)
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
            raise _bad_request('Note {:note=>["can\'t be blank"]}')
        if len(text) > NOTE_MAX:
            raise _bad_request(f'Note {{:note=>["is too long (maximum is {NOTE_MAX} characters)"]}}')
        before = _snapshot(issue)
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
            self._note_hook(project, issue, note, actor)
        self._after_change(project, issue, actor, before)
        result.note = note
        return result

    def _apply_changes(self, project: Project, issue: Issue, actor: GitLabUser, changes: dict[str, Any]) -> None:
        state_event = changes.get("state_event")
        if state_event == "close" and issue.state == "opened":
            issue.state, issue.closed_at, issue.closed_by_id = "closed", _now(), actor.id
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
        """System notes and Issue Hooks for what changed since `before` (close/reopen, then update)."""
        after = _snapshot(issue)
        if after == before:
            return
        issue.updated_at = _now()
        changes: dict[str, Any] = {
            "updated_at": {"previous": hook_time(before["updated_at"]), "current": hook_time(issue.updated_at)}
        }
        if after["state"] != before["state"]:
            closed = issue.state == "closed"
            self._system_note(issue, actor, "closed" if closed else "reopened")
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
            added = [t for t in after["labels"] if t not in before["labels"]]
            removed = [t for t in before["labels"] if t not in after["labels"]]
            parts = [f"added {self._label_refs(project, added)}"] if added else []
            parts += [f"removed {self._label_refs(project, removed)}"] if removed else []
            self._system_note(issue, actor, " and ".join(parts) + (" labels" if len(added + removed) > 1 else " label"))
            changes["labels"] = {
                "previous": [self._label_json(project.labels[t.lower()]) for t in before["labels"]],
                "current": [self._label_json(project.labels[t.lower()]) for t in after["labels"]],
            }
        if after["assignee_ids"] != before["assignee_ids"]:
            names = ", ".join(f"@{self.users[i].username}" for i in issue.assignee_ids)
            self._system_note(issue, actor, f"assigned to {names}" if names else "removed all assignees")
            changes["assignees"] = {
                "previous": [self._hook_user(self.users[i]) for i in before["assignee_ids"]],
                "current": [self._hook_user(self.users[i]) for i in issue.assignee_ids],
            }
        if after["title"] != before["title"]:
            self._system_note(issue, actor, f"changed title from **{before['title']}** to **{issue.title}**")
        if after["confidential"] != before["confidential"]:
            self._system_note(
                issue,
                actor,
                "made the issue confidential" if issue.confidential else "made the issue visible to everyone",
            )
        if len(changes) > 1:
            self._issue_hook(project, issue, actor, "update", changes)

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

    def comment(self, project: str, iid: int, body: str, by: str) -> None:
        self._as_user(by, lambda actor: self.add_note(self.issue_obj(project, iid), actor, body))

    def relabel(self, project: str, iid: int, *, add: Iterable[str] = (), remove: Iterable[str] = (), by: str) -> None:
        changes = {"add_labels": list(add), "remove_labels": list(remove)}
        self._as_user(by, lambda actor: self.update_issue(self.issue_obj(project, iid), actor, **changes))

    def _as_user(self, username: str, action: Callable[[GitLabUser], object]) -> None:
        with self.lock:
            action(self.user_by_username(username))

    def wait_for_webhooks(self, timeout: float = 5.0) -> bool:
        return self.webhook_sender.wait(timeout)

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        return list(self.webhook_sender.deliveries)

    # --- state for tests -------------------------------------------------------------------------------
    def issues(self, project: str) -> list[dict[str, Any]]:
        with self.lock:
            proj = self.project(project)
            return [self._issue_view(proj, i) for i in sorted(proj.issues.values(), key=lambda i: i.iid)]

    def issue(self, project: str, iid: int) -> dict[str, Any]:
        with self.lock:
            proj = self.project(project)
            return self._issue_view(proj, proj.issues[iid])

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "users": [
                    {"id": u.id, "username": u.username, "email": u.email, "public_email": u.public_email}
                    for u in self.users.values()
                ],
                "projects": [
                    {
                        "id": p.id,
                        "path_with_namespace": p.path_with_namespace,
                        "writable": p.writable,
                        "visible": p.visible,
                        "labels": sorted(label.title for label in p.labels.values()),
                        "issues": [self._issue_view(p, i) for i in sorted(p.issues.values(), key=lambda i: i.iid)],
                    }
                    for p in self.projects.values()
                ],
                "quick_actions": [vars(q) for q in self.quick_actions],
                "mass_mentions": [vars(m) for m in self.mass_mentions],
                "webhook_deliveries": [
                    {"url": d.url, "event": d.event, "status": d.status, "error": d.error}
                    for d in self.webhook_sender.deliveries
                ],
            }

    def _issue_view(self, project: Project, issue: Issue) -> dict[str, Any]:
        return {
            "project": project.path_with_namespace,
            "iid": issue.iid,
            "title": issue.title,
            "description": issue.description,
            "state": issue.state,
            "labels": list(issue.labels),
            "assignees": [self.users[i].username for i in issue.assignee_ids],
            "author": self.users[issue.author_id].username,
            "confidential": issue.confidential,
            "web_url": self._issue_url(project, issue),
            "notes": [
                {"body": n.body, "author": self.users[n.author_id].username, "system": n.system} for n in issue.notes
            ],
        }

    # --- internals ---------------------------------------------------------------------------------------
    def _find_project(self, ref: str) -> Project:
        try:
            project = self.project(unquote(ref))
        except KeyError:
            raise _message(404, "404 Project Not Found") from None
        if not project.visible:
            raise _message(404, "404 Project Not Found")
        return project

    def _find_issue(self, project_ref: str, iid: int) -> Issue:
        project = self._find_project(project_ref)
        if iid not in project.issues:
            raise _message(404, "404 Not found")
        return project.issues[iid]

    @staticmethod
    def _require_write(project: Project) -> None:
        if not project.writable:
            raise _message(403, "403 Forbidden")

    def _ensure_label(self, project: Project, title: str) -> Label:
        title = title.strip()
        if not title or len(title) > TITLE_MAX:
            raise _message(400, {"labels": ["is invalid"]})
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

    @staticmethod
    def _user_matches(user: GitLabUser, query: str, actor: GitLabUser) -> bool:
        query = query.removeprefix("@").strip().lower()
        if not query:
            return False
        emails = {user.email} if actor.is_admin else set()
        if user.public_email:
            emails.add(user.public_email)
        return query in emails or fuzzy_match(query, user.name) or fuzzy_match(query, user.username)

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

    # --- JSON renderers ------------------------------------------------------------------------------------
    def _user_url(self, user: GitLabUser) -> str:
        return f"{self.base_url}/{user.username}"

    def _project_url(self, project: Project) -> str:
        return f"{self.base_url}/{project.path_with_namespace}"

    def _issue_url(self, project: Project, issue: Issue) -> str:
        return f"{self._project_url(project)}/-/issues/{issue.iid}"

    def _user_json(self, user: GitLabUser, *, basic: bool = False) -> dict[str, Any]:
        """GitLab's `UserBasic` (what `GET /users` shows a non-admin: no email of any kind), or with the email."""
        shown: dict[str, Any] = {
            "id": user.id,
            "username": user.username,
            "name": user.name,
            "state": user.state,
            "locked": False,
            "avatar_url": None,
            "web_url": self._user_url(user),
        }
        return shown if basic else {**shown, "public_email": user.public_email}

    def _current_user_json(self, user: GitLabUser) -> dict[str, Any]:
        data = self._user_json(user)
        data.update({"email": user.email, "bot": user.bot, "is_admin": user.is_admin, "two_factor_enabled": False})
        return data

    def _hook_user(self, user: GitLabUser) -> dict[str, Any]:
        return {"id": user.id, "name": user.name, "username": user.username, "avatar_url": None, "email": "[REDACTED]"}

    def _project_json(self, project: Project) -> dict[str, Any]:
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
            "web_url": self._project_url(project),
            "issues_enabled": True,
            "namespace": {
                "id": project.namespace_id,
                "name": namespace.rsplit("/", 1)[-1],
                "path": namespace.rsplit("/", 1)[-1],
                "kind": "group",
                "full_path": namespace,
                "web_url": f"{self.base_url}/groups/{namespace}",
            },
            "permissions": {"project_access": {"access_level": 30 if project.writable else 10}, "group_access": None},
        }

    def _label_json(self, label: Label) -> dict[str, Any]:
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

    def _issue_json(self, issue: Issue) -> dict[str, Any]:
        project = self.projects[issue.project_id]
        assignees = [self._user_json(self.users[i]) for i in issue.assignee_ids]
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
            "closed_by": self._user_json(self.users[issue.closed_by_id]) if issue.closed_by_id else None,
            "labels": list(issue.labels),
            "milestone": None,
            "assignees": assignees,
            "author": self._user_json(self.users[issue.author_id]),
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
            "web_url": self._issue_url(project, issue),
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
            "moved_to_id": None,
            "service_desk_reply_to": None,
        }

    def _note_json(self, note: Note, issue: Issue) -> dict[str, Any]:
        return {
            "id": note.id,
            "type": None,
            "body": note.body,
            "attachment": None,
            "author": self._user_json(self.users[note.author_id]),
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

    def _paginate(self, request: Request, items: list[dict[str, Any]]) -> Response:
        page = _parse_int(request.args.get("page", "1"), "page")
        per_page = _parse_int(request.args.get("per_page", "20"), "per_page")
        if page < 1:
            raise _bad_request("page does not have a valid value")
        if per_page < 1:
            raise _bad_request("per_page does not have a valid value")
        per_page = min(per_page, 100)
        total = len(items)
        total_pages = max(1, -(-total // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Total": str(total),
            "X-Total-Pages": str(total_pages),
            "X-Next-Page": str(page + 1) if page < total_pages else "",
            "X-Prev-Page": str(page - 1) if page > 1 else "",
        }
        base = request.host_url.rstrip("/") + request.environ.get("gitlab.raw_path", request.path)
        others = [(k, v) for k, v in request.args.items(multi=True) if k != "page"]

        def link(to: int, rel: str) -> str:
            return f'<{base}?{urlencode([*others, ("page", str(to))])}>; rel="{rel}"'

        links = [link(page - 1, "prev")] if page > 1 else []
        links += [link(page + 1, "next")] if page < total_pages else []
        links += [link(1, "first"), link(total_pages, "last")]
        headers["Link"] = ", ".join(links)
        return json_response(chunk, 200, headers)

    # --- webhooks --------------------------------------------------------------------------------------------
    def _hooks_for(self, project: Project, kind: str, confidential: bool) -> Iterator[Webhook]:
        for hook in self.webhooks:
            if hook.project is not None and self.project(hook.project).id != project.id:
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
            "user": self._hook_user(actor),
            "project": self._hook_project(project),
            "object_attributes": attributes,
            "labels": attributes["labels"],
            "changes": changes,
            "repository": {
                "name": project.path,
                "url": f"{self._project_url(project)}.git",
                "description": project.description,
                "homepage": self._project_url(project),
            },
            "assignees": [self._hook_user(self.users[i]) for i in issue.assignee_ids],
        }
        event = "Confidential Issue Hook" if issue.confidential else "Issue Hook"
        self._queue_hooks(project, "issue", issue.confidential, event, payload)

    def _note_hook(self, project: Project, issue: Issue, note: Note, actor: GitLabUser) -> None:
        attributes = {
            "id": note.id,
            "note": note.body,
            "noteable_type": "Issue",
            "author_id": actor.id,
            "created_at": hook_time(note.created_at),
            "updated_at": hook_time(note.updated_at),
            "project_id": project.id,
            "attachment": None,
            "line_code": None,
            "commit_id": "",
            "noteable_id": issue.id,
            "system": False,
            "st_diff": None,
            "updated_by_id": None,
            "type": None,
            "position": None,
            "internal": False,
            "discussion_id": uuid.uuid5(uuid.NAMESPACE_URL, f"note-{note.id}").hex,
            "url": f"{self._issue_url(project, issue)}#note_{note.id}",
            "action": "create",
            "description": note.body,
        }
        payload = {
            "object_kind": "note",
            "event_type": "confidential_note" if issue.confidential else "note",
            "user": self._hook_user(actor),
            "project_id": project.id,
            "project": self._hook_project(project),
            "object_attributes": attributes,
            "repository": {
                "name": project.path,
                "url": f"{self._project_url(project)}.git",
                "description": project.description,
                "homepage": self._project_url(project),
            },
            "issue": self._hook_issue_attributes(project, issue),
        }
        event = "Confidential Note Hook" if issue.confidential else "Note Hook"
        self._queue_hooks(project, "note", issue.confidential, event, payload)

    def _hook_project(self, project: Project) -> dict[str, Any]:
        web_url = self._project_url(project)
        return {
            "id": project.id,
            "name": project.path,
            "description": project.description,
            "web_url": web_url,
            "avatar_url": None,
            "git_ssh_url": f"git@{self.base_url.split('://', 1)[-1]}:{project.path_with_namespace}.git",
            "git_http_url": f"{web_url}.git",
            "namespace": project.namespace_path.rsplit("/", 1)[-1],
            "visibility_level": 0,
            "path_with_namespace": project.path_with_namespace,
            "default_branch": "main",
            "ci_config_path": None,
            "homepage": web_url,
            "url": f"{web_url}.git",
            "ssh_url": f"git@{self.base_url.split('://', 1)[-1]}:{project.path_with_namespace}.git",
            "http_url": f"{web_url}.git",
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
            "state_id": 2 if issue.state == "closed" else 1,
            "state": issue.state,
            "type": "Issue",
            "url": self._issue_url(project, issue),
            "labels": [self._label_json(project.labels[t.lower()]) for t in issue.labels],
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
                "X-Gitlab-Instance": self.base_url,
                "Idempotency-Key": str(uuid.uuid4()),
            }
            if hook.secret_token is not None:
                headers["X-Gitlab-Token"] = hook.secret_token
            self.webhook_sender.send(WebhookDelivery(hook.url, event, json.loads(json.dumps(payload)), headers))


# --- request parameter parsing (Grape-like coercion and errors) -----------------------------------------


def _params(request: Request) -> dict[str, Any]:
    """Query string, form and JSON body merged, like Grape's `params`; `key[]` makes a list."""
    params: dict[str, Any] = {}

    def put(key: str, values: list[str]) -> None:
        if key.endswith("[]"):
            params[key[:-2]] = values
        else:
            params[key] = values[-1]

    for key in request.args:
        put(key, request.args.getlist(key))
    for key in request.form:
        put(key, request.form.getlist(key))
    if request.mimetype == "application/json" and request.get_data():
        try:
            body = json.loads(request.get_data())
        except ValueError:
            raise _bad_request(
                "The provided content-type 'application/json' is not supported or body is invalid JSON"
            ) from None
        if not isinstance(body, dict):
            raise _bad_request("body must be a JSON object")
        params.update(body)
    return params


def _string(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise _bad_request(f"{key} is invalid")
    return value


def _bool(params: dict[str, Any], key: str, default: bool) -> bool:
    value = params.get(key, default)
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "1", "yes", "t"):
        return True
    if str(value).lower() in ("false", "0", "no", "f"):
        return False
    raise _bad_request(f"{key} is invalid")


def _parse_int(value: Any, key: str) -> int:
    if isinstance(value, bool):
        raise _bad_request(f"{key} is invalid")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _bad_request(f"{key} is invalid") from None


def _int_list(params: dict[str, Any], key: str) -> list[int]:
    value = params.get(key)
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [_parse_int(v, key) for v in items if str(v).strip() != ""]


def _labels(value: Any) -> list[str]:
    """GitLab's CommaSeparatedToArray: a string or a list, every element split on commas."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if not isinstance(item, str):
            raise _bad_request("labels is invalid")
        out += [part.strip() for part in item.split(",") if part.strip()]
    return out


def _parse_time(value: str, key: str) -> float:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _bad_request(f"{key} is invalid") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _labels_filter(have: list[str], wanted: str) -> bool:
    if wanted.lower() == "none":
        return not have
    if wanted.lower() == "any":
        return bool(have)
    lowered = {t.lower() for t in have}
    return all(t.strip().lower() in lowered for t in wanted.split(",") if t.strip())


def _validate_text(title: str, description: str) -> None:
    errors: dict[str, list[str]] = {}
    if not title.strip():
        errors["title"] = ["can't be blank"]
    elif len(title) > TITLE_MAX:
        errors["title"] = [f"is too long (maximum is {TITLE_MAX} characters)"]
    if len(description) > DESCRIPTION_MAX:
        errors["description"] = [f"is too long (maximum is {DESCRIPTION_MAX} characters)"]
    if errors:
        raise _message(400, errors)


def _snapshot(issue: Issue) -> dict[str, Any]:
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
