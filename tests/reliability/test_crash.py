"""Crash: the worker is SIGKILLed at random moments while 100 requests of every kind go through, and
restarted with the same id each time. Every request still ends done or clearly failed, none is lost,
and no external effect happens twice — counted as effects at the stand-ins (a member added, an issue
filed, a key created, a person suspended, a Slack message posted), not as HTTP calls.

The bot runs as real processes (`engops serve --no-worker` and `engops worker --id crash-w1`) beside
the stand-ins of this process; providers answer with some latency so kills land inside steps. At the
end the bot runs once more in this process with its clock moved on, so the key rotations finish
(old keys deactivated, then deleted) and the timed grants expire.

ENGOPS_CRASH_SEED picks another order of requests and other kill moments (the moments also vary with
timing from run to run; the assertions hold wherever they land).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench.population import with_generated_people
from engops.sandbox.aws import sandbox_client
from engops.sandbox.slack_driver import SlackDriver
from engops.sandbox.stack import Stack, StackOptions
from tests.support import driver_actions as users
from tests.support.effects import Durable, dms_about, repeated_issues, repeated_messages, requests_by_id
from tests.support.processes import BotProcesses

SEED = int(os.environ.get("ENGOPS_CRASH_SEED", "20240611"))
WORKER = "crash-w1"
KILLS = 4
KILL_AFTER = (1.5, 6.0)  # seconds after the worker is up again
WAIT = 90.0  # for an answer that needs the worker (it may be restarting)
DRIS = ("erin", "frank", "ivan", "judy", "peggy")
ESCALATIONS = (  # one requester (the help desk): titles must not be near-identical, or it is offered to add
    "Payroll export to NetSuite failed",
    "Zoom rooms on floor 3 are offline",
    "VPN drops every hour for the sales team",
    "Shared drive permissions were reset for finance",
    "Okta push MFA prompts are not arriving",
    "Salesforce sync webhook returns 500",
    "Laptop imaging is stuck at 40 percent",
    "Budget alert fired for the AWS sandbox account",
)


@dataclass
class Planned:
    kind: str
    who: str  # the requester, or the person offboarded
    submit: Callable[[], int]
    decide: Callable[[int], None] | None = None
    expect: str = "done"
    group: str = ""
    by: str = ""  # who asked, when not `who`
    ref: int = 0
    old_keys: list[str] = field(default_factory=list)


def plan(d: SlackDriver, rng: random.Random) -> list[Planned]:
    """100 requests in a seeded order: access (auto-approved, one approval, two approvals, denied),
    IT requests, escalations (acknowledged), own key rotations and offboardings (second-person approval)."""
    people = iter(f"load{n:04d}" for n in range(100))
    planned: list[Planned] = []
    for _ in range(30):
        who = next(people)
        planned.append(
            Planned("access", who, lambda w=who: users.ask_access(d, w, "zoom-users", "Calls"), group="zoom-users")
        )
    for i in range(14):
        who, deny = next(people), i % 5 == 4
        planned.append(
            Planned(
                "access",
                who,
                lambda w=who: users.ask_access(d, w, "netsuite-finance", "Quarter close"),
                lambda ref, deny=deny: users.decide(
                    d, "oscar", ref, approve=not deny, timeout=WAIT, reason="Goes through the controller"
                ),
                expect="denied" if deny else "done",
                group="netsuite-finance",
            )
        )
    for _ in range(6):
        who = next(people)

        def manager_then_owner(ref: int) -> None:
            users.decide(d, "mona", ref, approve=True, timeout=WAIT)
            users.decide(d, "erin", ref, approve=True, timeout=WAIT)

        planned.append(
            Planned(
                "access",
                who,
                lambda w=who: users.ask_access(d, w, "aws-sandbox-admins", "Incident", "4h"),
                manager_then_owner,
                group="aws-sandbox-admins",
            )
        )
    for i in range(20):
        who = next(people)
        summary = users.IT_SUMMARIES[i % len(users.IT_SUMMARIES)].format(n=who)
        submit = lambda w=who, s=summary: users.file_it_request(d, w, s, "Since this morning")  # noqa: E731
        planned.append(Planned("it_request", who, submit, expect="filed"))
    for i, topic in enumerate(ESCALATIONS):
        text = f"{topic} <https://helpdesk.example.com/t/{4700 + i}>"
        planned.append(
            Planned(
                "escalation",
                "hank",
                lambda t=text: users.escalate(d, "hank", t, "Customers are waiting"),
                lambda ref: users.acknowledge_any(d, DRIS, ref, timeout=WAIT),
                expect="filed",
            )
        )
    for _ in range(10):
        who = next(people)
        planned.append(Planned("key_rotation", who, lambda w=who: users.rotate_own_keys(d, w, WAIT), expect="running"))
    for i in range(12):
        who = next(people)
        requester, approver = ("hank", "grace") if i % 2 else ("grace", "heidi")
        planned.append(
            Planned(
                "offboarding",
                who,
                lambda w=who, r=requester: users.offboard(d, r, f"{w}@example.com", "Last day was Friday", WAIT),
                lambda ref, a=approver: users.decide(d, a, ref, approve=True, timeout=WAIT),
                by=requester,
            )
        )
    rng.shuffle(planned)
    return planned


@pytest.fixture
def stack(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    running = Stack.start(
        StackOptions(data_dir=tmp_path, database_url=database_url, manual_clock=True), with_generated_people(100)
    )
    try:
        running.wait_idle(60)  # the role cache is filled; the bot's processes take over from here
        running.stop_app()
        yield running
    finally:
        running.stop()


def keys_of(stack: Stack, iam_user: str) -> list[str]:
    return list(_keys(stack, iam_user))


def key_statuses(stack: Stack, iam_user: str) -> list[str]:
    return list(_keys(stack, iam_user).values())


def _keys(stack: Stack, iam_user: str) -> dict[str, str]:
    assert stack.moto is not None
    iam = sandbox_client("iam", stack.moto.url)
    return {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=iam_user)["AccessKeyMetadata"]}


def secret(stack: Stack, iam_user: str) -> tuple[str, int]:
    """The key id stored under the user's secret, and how many versions the secret has."""
    import json

    assert stack.moto is not None
    secrets = sandbox_client("secretsmanager", stack.moto.url)
    name = f"engops/iam/{iam_user}"
    value = json.loads(secrets.get_secret_value(SecretId=name)["SecretString"])
    versions = secrets.list_secret_version_ids(SecretId=name, IncludeDeprecated=True)["Versions"]
    return str(value["AccessKeyId"]), len(versions)


def okta_suspensions(stack: Stack, login: str) -> int:
    """Suspensions that took effect (Okta refuses to suspend a user who is not active)."""
    path = f"/api/v1/users/{stack.okta.user_id(login)}/lifecycle/suspend"
    return sum(1 for c in stack.okta.calls if c.method == "POST" and c.path == path and c.status < 400)


def issues_of(stack: Stack, ref: int) -> list[str]:
    return [
        issue["title"]
        for project in stack.directory.gitlab_projects
        for issue in stack.gitlab.issues(project)
        if issue["title"].endswith(f"(REQ-{ref})") or issue["title"].startswith(f"Offboarding REQ-{ref}:")
    ]


def run_with_kills(stack: Stack, bot: BotProcesses, planned: list[Planned], rng: random.Random) -> list[str]:
    """Everyone acts while the worker is killed (and restarted) at random moments; returns when."""
    assert stack.driver is not None
    delays = [rng.uniform(*KILL_AFTER) for _ in range(KILLS)]
    killed: list[str] = []

    def killer() -> None:
        for delay in delays:
            bot.wait_started(WORKER)
            time.sleep(delay)
            bot.kill(WORKER)
            killed.append(f"{delay:.1f}s")
            bot.restart(WORKER)

    thread = threading.Thread(target=killer, name="killer", daemon=True)
    thread.start()
    for p in planned:
        p.ref = p.submit()
    for p in planned:
        if p.decide is not None:
            p.decide(p.ref)
    thread.join(timeout=60)
    bot.wait_started(WORKER)
    return killed


@pytest.mark.timeout(240)
def test_worker_killed_at_random_moments_loses_and_repeats_nothing(
    stack: Stack, database_url: str, tmp_path: Path
) -> None:
    for standin in (stack.okta, stack.google, stack.gitlab):
        standin.latency = 0.05
    stack.slack.latency = 0.02
    assert stack.driver is not None
    zoom_before = stack.okta.members("zoom-users")
    planned = plan(stack.driver, random.Random(SEED))
    for p in planned:
        p.old_keys = keys_of(stack, p.who) if p.kind == "key_rotation" else []

    durable = Durable(database_url)
    with BotProcesses(stack.env, tmp_path / "logs") as bot:
        stack.driver.app_url = bot.web("web")
        bot.worker(WORKER)
        try:
            killed = run_with_kills(stack, bot, planned, random.Random(SEED))
            drain = durable.wait_drained(120)
        except BaseException:
            print(bot.logs())
            raise
        assert len(killed) == KILLS, killed
        assert durable.crashed() == []
        recovered = durable.recovered()
        avoided = bot.procs[WORKER].log_text().count("not posting it again")
    durable.close()
    print(
        f"\n{len(planned)} requests; worker killed {len(killed)} times ({', '.join(killed)} after each start); "
        f"{len(recovered)} workflows resumed after a kill; {avoided} repeated Slack posts avoided; "
        f"drained {drain:.1f}s after the last click"
    )

    # every request is where it should be; every number a user was given exists
    stored = requests_by_id(database_url)
    assert sorted(p.ref for p in planned) == sorted(stored), "a request number given to a user is missing"
    wrong = {
        p.ref: (p.kind, stored[p.ref].status, stored[p.ref].error) for p in planned if stored[p.ref].status != p.expect
    }
    assert wrong == {}

    # no effect repeated, none missing
    assert repeated_messages(stack.slack) == []
    assert repeated_issues(stack.gitlab, stack.directory.gitlab_projects) == []
    for p in planned:
        if p.kind == "access":
            assert (f"{p.who}@example.com" in stack.okta.members(p.group)) == (p.expect == "done"), p.ref
            wording = "is now in" if p.expect == "done" else "was denied"
            assert dms_about(stack.slack, p.who, p.ref, wording) == 1, (p.ref, wording)
        elif p.kind == "it_request":
            assert len(issues_of(stack, p.ref)) == 1, p.ref
            assert dms_about(stack.slack, p.who, p.ref, "is filed with") == 1, p.ref
        elif p.kind == "escalation":
            assert len(issues_of(stack, p.ref)) == 1, p.ref
            assert dms_about(stack.slack, "hank", p.ref, "is on it") == 1, p.ref
        elif p.kind == "key_rotation":
            keys = keys_of(stack, p.who)
            (new,) = set(keys) - set(p.old_keys)  # exactly one new key, the old one still there
            assert len(keys) == 2 and secret(stack, p.who) == (new, 1), p.ref
            assert dms_about(stack.slack, p.who, p.ref, "stored in Secrets Manager as") == 1, p.ref
        elif p.kind == "offboarding":
            email = f"{p.who}@example.com"
            assert stack.okta.user_status(email) == "SUSPENDED" and okta_suspensions(stack, email) == 1, p.ref
            assert stack.google.is_suspended(email) and key_statuses(stack, p.who) == ["Inactive"], p.ref
            assert len(issues_of(stack, p.ref)) == 1, p.ref
            assert dms_about(stack.slack, p.by, p.ref, "every step finished") == 1, p.ref
    zoom = {f"{p.who}@example.com" for p in planned if p.group == "zoom-users"}
    assert stack.okta.members("zoom-users") == zoom_before | zoom

    # time moves on (the bot in this process, on the same database): rotations finish, timed grants expire
    stack.start_app()
    for delta in ({"days": 1, "hours": 1}, {"days": 7}):
        stack.advance(**delta)
        stack.run_sweep()
        stack.wait_idle(60)
    stored = requests_by_id(database_url)
    for p in planned:
        if p.kind == "key_rotation":
            (new,) = set(keys_of(stack, p.who)) - set(p.old_keys)
            assert stored[p.ref].status == "done" and keys_of(stack, p.who) == [new], p.ref
        elif p.group == "aws-sandbox-admins":
            assert stored[p.ref].status == "ended", p.ref
            assert f"{p.who}@example.com" not in stack.okta.members(p.group), p.ref
            assert dms_about(stack.slack, p.who, p.ref, "expired and was removed") == 1, p.ref
