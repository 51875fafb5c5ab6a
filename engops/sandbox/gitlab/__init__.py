"""GitLab stand-in: the REST v4 subset the bot uses, with quick actions executed like GitLab does.

What it mirrors, because the bot's correctness depends on it:
- project ids as numbers or URL-encoded paths (`group%2Fsub%2Fproject`); werkzeug decodes `%2F`,
  so routing works on the raw request path;
- `PRIVATE-TOKEN` / `Bearer` auth, 401/403/404 bodies, Grape-style 400s, `X-*` pagination headers
  with a `Link` header that python-gitlab's `get_all=True` follows;
- token scopes (`api` writes, `read_api` reads, `read_user` reads users; anything else is refused with
  GitLab's 403 `insufficient_scope`), `GET /personal_access_tokens/self` for any token, and project
  roles by access level (`GET /projects/:id/members/all/:user_id`); below Reporter, a new issue's labels
  and assignees are dropped without a word, as GitLab does;
- 429 with `RateLimit-*` and `Retry-After`, plus a separate per-minute issue-creation limit;
- quick actions (`/close`, `/label ~x`, ...) on their own line of a description or note are
  removed from the text and executed with the author's rights; lines in fenced code or quotes are
  not. As in GitLab, a new issue cannot be closed from its own description (`IssuableBaseService
  #create` drops `state_event`), but labels, assignees and confidentiality do apply. Every extracted
  quick action is recorded in `quick_actions` (with `applied`), so injection tests can assert that
  none ran; `@all` / `@here` mentions outside code are recorded in `mass_mentions`;
- Issue Hook / Note Hook webhooks (Confidential ... Hook for confidential issues) with GitLab's
  payload shape, delivered from a background thread; failures are recorded, never raised. A note's
  hook says `action: create`, and `action: update` for each edit that changes its text (`user` is
  still its author, `updated_by_id` who edited it); deleting a note sends none. Only the author or a
  Maintainer may edit or delete a note, nobody a system note;
- "Move issue" (`POST /projects/:id/issues/:issue_iid/move` with `to_project_id`): refused with
  MoveService's 400 without Reporter in both projects, for an issue moved before, or to its own
  project; the new issue (same author, title, text, notes; the labels the target has) is opened in
  the target project, then the old one gets `moved_to_id` and is closed: an "open" Issue Hook from the
  target project, then a "close" one from the old project whose `object_attributes.moved_to_id` is
  the new issue's id (`user`, in both, is who moved it).

Modules, each importing only those above it:
- `text`: GitLab-flavoured text (markdown lines, quick actions, mentions, references, fuzzy search);
- `errors`: GitLab's refusals (`ApiError` carries the answer);
- `model`: users, projects, labels, issues, notes, and the operations that change them;
- `render`: the REST API's JSON for the model's records;
- `webhooks`: the hooks GitLab sends for the model's events, and their delivery;
- `params`: request parameters, coerced and refused as GitLab's API does;
- `api`: HTTP (routing, auth, rate limits, pagination, handlers) and `GitLabStandIn`.
"""

from engops.sandbox.gitlab.api import DEFAULT_TOKEN, GitLabStandIn
from engops.sandbox.gitlab.text import extract_quick_actions, mass_mention_lines

__all__ = ["DEFAULT_TOKEN", "GitLabStandIn", "extract_quick_actions", "mass_mention_lines"]
