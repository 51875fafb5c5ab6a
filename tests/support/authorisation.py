"""Acting as each role on a privileged action, and telling whether anything changed.

A refused action must change nothing: `snapshot` is every row of the tables that hold decisions and
their effects (requests, approval steps, grants, offboarding runs, key rotations, escalations, filed
issues, the audit log) plus the state of the stand-ins an action could change (Okta memberships and
statuses, Google suspensions, IAM keys, GitLab issues). And the person must be told why: `told_since`
is what they were shown after a mark (ephemeral messages, DMs, the errors of their open modal).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from bot import audit
from engops.sandbox.slack import message_as_text
from engops.sandbox.slack_driver import DriverResponse, SlackDriver
from engops.sandbox.stack import Stack

# The people of the demo directory in each role (the policy of `policy_for_roles` keeps them apart).
ROLES: dict[str, str] = {
    "requester": "alice",
    "requester's manager": "mona",
    "group owner": "oscar",
    "help desk": "hank",
    "IT admin": "heidi",
    "unrelated employee": "carol",
    "service-user owner": "leo",
    "team DRI": "frank",
}
# Set by the per-minute sweep as the real clock ticks, whoever clicks: a 4-hour grant is "within a day" of its end
# from the start, so its warning flag may flip between two snapshots.
SWEPT_COLUMNS = {"grant": {"warned_day", "warned_hour"}}
DECISION_TABLES = (
    "request",
    "approval_step",
    "grant",
    "run",
    "run_step",
    "tracked_issue",
    "escalation",
    "key_rotation",
    "audit_entry",
)
# What a refusal says: who may, why not, that nothing changed.
REFUSAL = re.compile(
    r"\bonly\b|cannot|can't|not an approver|not allowed|nothing changed|neither|more than 24 hours|"
    r"not one of yours",
    re.IGNORECASE,
)


def policy_for_roles(example: dict[str, Any]) -> dict[str, Any]:
    """The example policy with one person per role: oscar owns both requestable groups with owners, leo owns
    the service user (erin, a DRI of other teams, owns nothing here)."""
    policy = json.loads(json.dumps(example))
    for group in policy["access"]["groups"]:
        if group.get("owners"):
            group["owners"] = ["oscar@example.com"]
    policy["aws_keys"]["service_users"] = {"svc-deploy": {"owners": ["leo@example.com"]}}
    return policy


def snapshot(stack: Stack) -> dict[str, Any]:
    assert stack.web is not None and stack.moto is not None
    state: dict[str, Any] = {}
    audit.seal(stack.web.services.db, wait=True)  # entries written before now are in the chain, not the inbox
    with stack.web.services.db.engine.connect() as conn:
        for table in DECISION_TABLES:
            rows = conn.execute(text(f'SELECT * FROM "{table}" ORDER BY 1'))  # noqa: S608 (our table names)
            ignored = SWEPT_COLUMNS.get(table, set())
            state[table] = [tuple(str(v) for k, v in row._mapping.items() if k not in ignored) for row in rows]
    with stack.okta.lock:
        state["okta groups"] = {g.name: sorted(g.members) for g in stack.okta.groups.values()}
        state["okta statuses"] = {u.id: u.status for u in stack.okta.users.values()}
    state["google suspended"] = sorted(u for u in _google_users(stack) if stack.google.is_suspended(u))
    from engops.sandbox.aws import sandbox_client

    iam = sandbox_client("iam", stack.moto.url)
    state["iam keys"] = {
        u["UserName"]: sorted(
            (k["AccessKeyId"], k["Status"]) for k in iam.list_access_keys(UserName=u["UserName"])["AccessKeyMetadata"]
        )
        for u in iam.list_users()["Users"]
    }
    state["gitlab issues"] = {
        p: [(i["iid"], i["state"], i["title"]) for i in stack.gitlab.issues(p)] for p in stack.directory.gitlab_projects
    }
    return state


def _google_users(stack: Stack) -> list[str]:
    return [p.email for p in stack.directory.people]


@dataclass
class Mark:
    """Where a person's screen stood before they acted."""

    ephemerals: int
    dm: int


def mark(stack: Stack, who: str) -> Mark:
    assert stack.driver is not None
    return Mark(len(stack.driver.ephemerals(who)), len(stack.slack.dm(who)))


def told_since(stack: Stack, who: str, since: Mark) -> str:
    """What the person was shown since the mark: ephemeral messages, DMs, errors in their open modal."""
    assert stack.driver is not None
    shown = [message_as_text(e.text, e.blocks) for e in stack.driver.ephemerals(who)[since.ephemerals :]]
    shown += [message_as_text(m.text, m.blocks) for m in stack.slack.dm(who)[since.dm :]]
    view = stack.driver.current_view(who)
    if view is not None:
        shown += list(view.errors.values()) + [message_as_text("", view.blocks)]
    return "\n".join(shown)


@dataclass
class Row:
    """One privileged action: who may, who may not, and what each was shown."""

    action: str
    cells: dict[str, str] = field(default_factory=dict)  # role -> "allowed" | "refused: <what they were told>"

    def render(self) -> str:
        marks = " ".join(f"{role}={'Y' if v == 'allowed' else 'n'}" for role, v in self.cells.items())
        return f"{self.action}: {marks}"


def tampered(driver: SlackDriver, act: Any, change: Any) -> DriverResponse:
    """Send what `act()` would send, with its JSON payload changed by `change(payload)` and signed afresh
    (as if Slack had delivered it: the server must not trust what a payload says about the view)."""
    captured: list[bytes] = []
    send = driver.raw

    def capture(body: bytes, headers: dict[str, str]) -> DriverResponse:
        captured.append(body)
        return DriverResponse(200, {"Content-Type": "application/json"}, b"{}")

    driver.raw = capture  # type: ignore[method-assign]
    try:
        act()
    finally:
        driver.raw = send  # type: ignore[method-assign]
    from urllib.parse import parse_qs, urlencode

    payload = json.loads(parse_qs(captured[0].decode())["payload"][0])
    change(payload)
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return driver.raw(body, driver.signed_headers(body, "application/x-www-form-urlencoded"))
