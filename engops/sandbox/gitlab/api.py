"""The HTTP face of the GitLab stand-in: routing (a project path is one `%2F`-encoded segment),
token auth, GitLab's error bodies and rate-limit headers, pagination, and the REST v4 handlers
over the model. `GitLabStandIn` is the model served over HTTP, plus what tests configure and read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from email.utils import formatdate
from typing import Any
from urllib.parse import quote, unquote, urlencode

from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Request, Response

from engops.sandbox.base import FixedWindowLimiter, StandIn, json_response
from engops.sandbox.directory import Directory
from engops.sandbox.gitlab.errors import ApiError, bad_request, insufficient_scope, message_error
from engops.sandbox.gitlab.model import GUEST, AccessToken, GitLab, GitLabUser, Issue, Note, Project, user_matches
from engops.sandbox.gitlab.params import (
    bool_param,
    int_list_param,
    label_list,
    labels_match,
    merged_params,
    parse_int,
    parse_time,
    str_param,
)
from engops.sandbox.gitlab.render import API, Renderer
from engops.sandbox.gitlab.text import fuzzy_match
from engops.sandbox.gitlab.webhooks import Webhook, WebhookDelivery, Webhooks

DEFAULT_TOKEN = "glpat-sandbox-engops-bot"
# What a token scope lets through (Gitlab::Auth and the API's `allow_access_with_scope`): `api` everything,
# `read_api` reads, `read_user` reads of /user and /users; other scopes (repository, registry, ...) no REST call.
READ_SCOPES = ("api", "read_api")
USER_READ_SCOPES = ("api", "read_api", "read_user")
ANY_SCOPE = ("*",)
FALLBACK_URL = "http://gitlab.localhost"
ISSUE_CREATE_LIMIT_MESSAGE = "This endpoint has been requested too many times. Try again later."


class GitLabStandIn(StandIn, GitLab):
    """The GitLab model served over HTTP; both bases share the stand-in's one lock."""

    name = "gitlab"

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "engops-bot",
        *,
        external_url: str | None = None,
        multiple_assignees: bool = True,
    ) -> None:
        StandIn.__init__(self)
        # GitLab's external_url; None: the URL clients reach the stand-in on (python-gitlab warns when a
        # response's web_url has another base).
        self.external_url = external_url.rstrip("/") if external_url else None
        self._seen_url: str | None = None
        self.render = Renderer(self, lambda: self.base_url)
        self.hooks = Webhooks(self, self.render)
        GitLab.__init__(self, bot_username, lock=self.lock, events=self.hooks, multiple_assignees=multiple_assignees)
        self.issue_create_limiter: FixedWindowLimiter | None = None
        self._tokens: dict[str, AccessToken] = {}
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

    def add_token(self, token: str, username: str, scopes: Iterable[str] = ("api",)) -> None:
        with self.lock:
            user_id = self.user_by_username(username).id
            self._tokens[token] = AccessToken(
                self._next_id("token"), f"token {len(self._tokens) + 1}", user_id, tuple(scopes)
            )

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
        self.hooks.configured.append(
            Webhook(url, secret_token, project, issues_events, note_events, confidential_events)
        )

    @property
    def webhooks(self) -> list[Webhook]:
        return self.hooks.configured

    def wait_for_webhooks(self, timeout: float = 5.0) -> bool:
        return self.hooks.sender.wait(timeout)

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        return list(self.hooks.sender.deliveries)

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
        token = self._token(request)
        user = self.users.get(token.user_id) if token is not None else None
        return user if user is not None and user.state == "active" else None

    def _token(self, request: Request) -> AccessToken | None:
        token = request.headers.get("PRIVATE-TOKEN")
        auth = request.headers.get("Authorization")
        if auth is not None:
            scheme, _, value = auth.partition(" ")
            if scheme.lower() != "bearer" or not value or (token is not None and token != value):
                return None
            token = value
        if token is None:
            token = request.args.get("private_token") or request.args.get("access_token")
        return self._tokens.get(token or "")

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
        self.route(f"{API}/personal_access_tokens/self", ["GET"], self._get_own_token)
        self.route(proj, ["GET"], self._get_project)
        self.route(f"{proj}/members/all/<int:user_id>", ["GET"], self._get_member)
        self.route(f"{proj}/issues", ["GET", "POST"], self._issues)
        self.route(f"{proj}/issues/<int:iid>", ["GET", "PUT"], self._issue)
        self.route(f"{proj}/issues/<int:iid>/move", ["POST"], self._move)
        self.route(f"{proj}/issues/<int:iid>/notes", ["GET", "POST"], self._notes)
        self.route(f"{proj}/issues/<int:iid>/notes/<int:note_id>", ["GET", "PUT", "DELETE"], self._note)

    @property
    def base_url(self) -> str:
        return self.external_url or self._seen_url or FALLBACK_URL

    def _api(
        self, request: Request, fn: Callable[..., Response], *args: Any, scopes: Iterable[str] | None = None
    ) -> Response:
        """Run a handler as the token's user. `scopes`: those that allow the call (default: by method,
        `ANY_SCOPE`: every token)."""
        self._seen_url = request.host_url.rstrip("/")
        try:
            actor, token = self._actor(request), self._token(request)
            assert actor is not None and token is not None  # authorize() ran first
            allowed = tuple(scopes if scopes is not None else READ_SCOPES if request.method == "GET" else ("api",))
            if allowed != ANY_SCOPE and not set(allowed) & set(token.scopes):
                raise insufficient_scope(allowed)
            with self.lock:
                response: Response = fn(request, actor, *args)
            return response
        except ApiError as exc:
            return exc.response

    def _get_current_user(self, request: Request) -> Response:
        return self._api(
            request, lambda _r, actor: json_response(self.render.current_user(actor)), scopes=USER_READ_SCOPES
        )

    def _get_own_token(self, request: Request) -> Response:
        # Any token may read itself, whatever its scopes (API::PersonalAccessTokens::SelfInformation).
        def run(req: Request, _actor: GitLabUser) -> Response:
            token = self._token(req)
            assert token is not None
            return json_response(self.render.token(token))

        return self._api(request, run, scopes=ANY_SCOPE)

    def _get_member(self, request: Request, project_ref: str, user_id: int) -> Response:
        def run(_r: Request, actor: GitLabUser) -> Response:
            project = self._find_project(project_ref)
            if user_id not in project.members or user_id not in self.users:
                raise message_error(404, "404 Not found")
            return json_response(self.render.member(self.users[user_id], project.members[user_id]))

        return self._api(request, run)

    def _list_users(self, request: Request) -> Response:
        def run(req: Request, actor: GitLabUser) -> Response:
            users = [u for u in self.users.values() if actor.is_admin or u.state == "active"]
            if req.args.get("username"):
                users = [u for u in users if u.username.lower() == req.args["username"].lower()]
            if req.args.get("search"):
                users = [u for u in users if user_matches(u, req.args["search"], actor)]
            shown = [self.render.user(u, basic=not actor.is_admin) for u in sorted(users, key=lambda u: u.id)]
            return self._paginate(req, shown)

        return self._api(request, run, scopes=USER_READ_SCOPES)

    def _get_project(self, request: Request, project_ref: str) -> Response:
        def run(_r: Request, actor: GitLabUser) -> Response:
            project = self._find_project(project_ref)
            level = project.members.get(actor.id)
            if level is not None and not project.writable:
                level = min(level, GUEST)
            return json_response(self.render.project(project, level))

        return self._api(request, run)

    def _issues(self, request: Request, project_ref: str) -> Response:
        if request.method == "POST":
            return self._api(request, self._create_issue_api, project_ref)
        return self._api(request, self._list_issues_api, project_ref)

    def _issue(self, request: Request, project_ref: str, iid: int) -> Response:
        if request.method == "PUT":
            return self._api(request, self._update_issue_api, project_ref, iid)
        return self._api(
            request, lambda _r, actor: json_response(self.render.issue(self._find_issue(project_ref, iid)))
        )

    def _move(self, request: Request, project_ref: str, iid: int) -> Response:
        return self._api(request, self._move_issue_api, project_ref, iid)

    def _notes(self, request: Request, project_ref: str, iid: int) -> Response:
        if request.method == "POST":
            return self._api(request, self._create_note_api, project_ref, iid)

        def run(req: Request, actor: GitLabUser) -> Response:
            issue = self._find_issue(project_ref, iid)
            order = req.args.get("order_by", "created_at")
            if order not in ("created_at", "updated_at"):
                raise bad_request("order_by does not have a valid value")
            notes = sorted(issue.notes, key=lambda n: (getattr(n, order), n.id), reverse=req.args.get("sort") != "asc")
            return self._paginate(req, [self.render.note(n, issue) for n in notes])

        return self._api(request, run)

    def _note(self, request: Request, project_ref: str, iid: int, note_id: int) -> Response:
        def run(req: Request, actor: GitLabUser) -> Response:
            issue = self._find_issue(project_ref, iid)
            note = self._find_note(issue, note_id)
            if req.method == "GET":
                return json_response(self.render.note(note, issue))
            self._require_write(self.projects[issue.project_id])
            if req.method == "DELETE":
                self.delete_note(issue, note, actor)
                return Response(status=204)
            params = merged_params(req)
            if "body" not in params:  # Notes::UpdateService does nothing without parameters
                return json_response(self.render.note(note, issue))
            body = str_param(params, "body")
            if not body.strip():
                raise bad_request("body is empty")
            self.edit_note(issue, note, actor, body)
            return json_response(self.render.note(note, issue))

        return self._api(request, run)

    # --- API handlers ------------------------------------------------------------------------------
    def _create_issue_api(self, request: Request, actor: GitLabUser, project_ref: str) -> Response:
        project = self._find_project(project_ref)
        params = merged_params(request)
        self._require_write(project)
        if self.issue_create_limiter is not None:
            allowed, _remaining, reset = self.issue_create_limiter.take()
            if not allowed:
                limit = self.issue_create_limiter.limit
                resp = json_response({"message": {"error": ISSUE_CREATE_LIMIT_MESSAGE}}, 429)
                resp.headers.update(self._throttle_headers("issues_create", limit, 0, limit, reset))
                raise ApiError(resp)
        if "title" not in params:
            raise bad_request("title is missing")
        assignee_ids = int_list_param(params, "assignee_ids") or int_list_param(params, "assignee_id")
        issue = self.create_issue(
            project,
            actor,
            title=str_param(params, "title"),
            description=str_param(params, "description") if params.get("description") is not None else "",
            labels=label_list(params.get("labels")),
            assignee_ids=assignee_ids,
            confidential=bool_param(params, "confidential", False),
        )
        return json_response(self.render.issue(issue), 201)

    def _list_issues_api(self, request: Request, actor: GitLabUser, project_ref: str) -> Response:
        project = self._find_project(project_ref)
        args = request.args
        state = args.get("state", "all")
        if state not in ("opened", "closed", "all"):
            raise bad_request("state does not have a valid value")
        issues = [i for i in project.issues.values() if state == "all" or i.state == state]
        if args.get("author_id"):
            author_id = parse_int(args["author_id"], "author_id")
            issues = [i for i in issues if i.author_id == author_id]
        if args.get("author_username"):
            wanted = args["author_username"].lower()
            issues = [i for i in issues if self.users[i.author_id].username.lower() == wanted]
        if args.get("assignee_id"):
            assignee_id = parse_int(args["assignee_id"], "assignee_id")
            issues = [i for i in issues if assignee_id in i.assignee_ids]
        if args.get("confidential") is not None:
            confidential = bool_param(dict(args), "confidential", False)
            issues = [i for i in issues if i.confidential == confidential]
        if args.get("labels"):
            issues = [i for i in issues if labels_match(i.labels, args["labels"])]
        for key, newer in (("created_after", True), ("created_before", False)):
            if args.get(key):
                bound = parse_time(args[key], key)
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
            raise bad_request("order_by does not have a valid value")
        sort = args.get("sort", "desc")
        if sort not in ("asc", "desc"):
            raise bad_request("sort does not have a valid value")
        issues.sort(key=lambda i: (getattr(i, order), i.id), reverse=sort == "desc")
        return self._paginate(request, [self.render.issue(i) for i in issues])

    def _update_issue_api(self, request: Request, actor: GitLabUser, project_ref: str, iid: int) -> Response:
        issue = self._find_issue(project_ref, iid)
        project = self.projects[issue.project_id]
        params = merged_params(request)
        known = {"title", "description", "labels", "add_labels", "remove_labels", "state_event", "confidential"}
        known |= {"assignee_ids", "assignee_id", "discussion_locked"}
        if not known & params.keys():
            raise bad_request(f"{', '.join(sorted(known))} are missing, at least one parameter must be provided")
        self._require_write(project)
        changes: dict[str, Any] = {}
        if "state_event" in params:
            if params["state_event"] not in ("close", "reopen"):
                raise bad_request("state_event does not have a valid value")
            changes["state_event"] = params["state_event"]
        for key in ("title", "description"):
            if key in params:
                changes[key] = str_param(params, key)
        if "labels" in params:
            changes["labels"] = label_list(params["labels"])
        if "add_labels" in params:
            changes["add_labels"] = label_list(params["add_labels"])
        if "remove_labels" in params:
            changes["remove_labels"] = label_list(params["remove_labels"])
        if "confidential" in params:
            changes["confidential"] = bool_param(params, "confidential", False)
        if "discussion_locked" in params:
            changes["discussion_locked"] = bool_param(params, "discussion_locked", False)
        if "assignee_ids" in params or "assignee_id" in params:
            changes["assignee_ids"] = int_list_param(
                params, "assignee_ids" if "assignee_ids" in params else "assignee_id"
            )
        self.update_issue(issue, actor, **changes)
        return json_response(self.render.issue(issue))

    def _move_issue_api(self, request: Request, actor: GitLabUser, project_ref: str, iid: int) -> Response:
        """`POST /projects/:id/issues/:issue_iid/move` (`to_project_id`, an Integer): 201 with the new issue. The
        target is found by id whatever the caller may see (404 only when there is none); every refusal after that
        is MoveService's 400, a project the token's user may not write to (`writable`) or see counting as no
        permission."""
        issue = self._find_issue(project_ref, iid)
        params = merged_params(request)
        if "to_project_id" not in params:
            raise bad_request("to_project_id is missing")
        target_id = parse_int(params["to_project_id"], "to_project_id")
        target = self.projects.get(target_id)
        if target is None:
            raise message_error(404, "404 Project Not Found")
        source = self.projects[issue.project_id]
        if not (source.writable and target.writable and target.visible):
            raise message_error(400, "Cannot move issue due to insufficient permissions!")
        moved = self.move(issue, actor, target)
        return json_response(self.render.issue(moved), 201)

    def _create_note_api(self, request: Request, actor: GitLabUser, project_ref: str, iid: int) -> Response:
        issue = self._find_issue(project_ref, iid)
        params = merged_params(request)
        if "body" not in params:
            raise bad_request("body is missing")
        self._require_write(self.projects[issue.project_id])
        result = self.add_note(issue, actor, str_param(params, "body"))
        if result.note is None:  # the body was only quick actions: GitLab answers 202 without a note
            return json_response({"commands_changes": result.commands_changes, "summary": result.summary}, 202)
        return json_response(self.render.note(result.note, issue), 201)

    # --- state for tests -------------------------------------------------------------------------------
    def issues(self, project: str) -> list[dict[str, Any]]:
        with self.lock:
            proj = self.project(project)
            return [self.render.issue_view(proj, i) for i in sorted(proj.issues.values(), key=lambda i: i.iid)]

    def issue(self, project: str, iid: int) -> dict[str, Any]:
        with self.lock:
            proj = self.project(project)
            return self.render.issue_view(proj, proj.issues[iid])

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
                        "issues": [
                            self.render.issue_view(p, i) for i in sorted(p.issues.values(), key=lambda i: i.iid)
                        ],
                    }
                    for p in self.projects.values()
                ],
                "quick_actions": [vars(q) for q in self.quick_actions],
                "mass_mentions": [vars(m) for m in self.mass_mentions],
                "webhook_deliveries": [
                    {"url": d.url, "event": d.event, "status": d.status, "error": d.error}
                    for d in self.hooks.sender.deliveries
                ],
            }

    # --- internals ---------------------------------------------------------------------------------------
    def _find_project(self, ref: str) -> Project:
        try:
            project = self.project(unquote(ref))
        except KeyError:
            raise message_error(404, "404 Project Not Found") from None
        if not project.visible:
            raise message_error(404, "404 Project Not Found")
        return project

    def _find_issue(self, project_ref: str, iid: int) -> Issue:
        project = self._find_project(project_ref)
        if iid not in project.issues:
            raise message_error(404, "404 Not found")
        return project.issues[iid]

    @staticmethod
    def _find_note(issue: Issue, note_id: int) -> Note:
        try:
            return GitLab.note_obj(issue, note_id)
        except KeyError:
            raise message_error(404, "404 Not found") from None

    @staticmethod
    def _require_write(project: Project) -> None:
        if not project.writable:
            raise message_error(403, "403 Forbidden")

    def _paginate(self, request: Request, items: list[dict[str, Any]]) -> Response:
        page = parse_int(request.args.get("page", "1"), "page")
        per_page = parse_int(request.args.get("per_page", "20"), "per_page")
        if page < 1:
            raise bad_request("page does not have a valid value")
        if per_page < 1:
            raise bad_request("per_page does not have a valid value")
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
