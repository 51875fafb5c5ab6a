"""Crash: the worker is SIGKILLed at random moments while 100 requests of every kind go through, and
restarted with the same id each time. Every request still ends done or clearly failed, none is lost,
and no external effect happens twice — counted as effects at the stand-ins (a member added, an issue
filed, a key created, a person suspended, a Slack message posted), not as HTTP calls.

The bot runs as real processes (`engops serve --no-worker` and `engops worker --id crash-w1`) beside
the stand-ins of this process; providers answer with some latency so kills land inside steps.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench.population import with_generated_people
from bot.sandbox.aws import sandbox_client
from bot.sandbox.slack import message_as_text
from bot.sandbox.slack_driver import SlackDriver
from bot.sandbox.stack import Stack, StackOptions
from tests.reliability import users
from tests.reliability.effects import FINAL, Durable, repeated_issues, repeated_messages, requests_by_id
from tests.support.processes import BotProcesses

SEED = 20240611
WORKER = "crash-w1"
KILLS = 4
WAIT = 90.0  # for an answer that needs the worker (it may be restarting)
OFFBOARDING_TRACKER = "bt-engineering/access-manager/issue-tracker"
DRIS = ("erin", "frank", "ivan", "judy", "peggy")
IT_SUMMARIES = (
    "Terraform plan fails on the {n} VPC module",
    "Need an S3 bucket for the {n} marketing assets",
    "Okta SSO broken for the {n} sandbox account",
    "NetSuite sync to Salesforce stuck on batch {n}",
    "Laptop {n} will not enroll in Google Workspace",
)


@dataclass
class Planned:
    kind: str
    who: str
    submit: Callable[[], int]
    decide: Callable[[int], None] | None = None
    expect: str = "done"
    ref: int = 0
    detail: dict[str, str] = field(default_factory=dict)


def person(n: int) -> str:
    return f"load{n:04d}"


def plan(d: SlackDriver, rng: random.Random) -> list[Planned]:
    """100 requests: access (auto, one-step, two-step, denied), IT requests, escalations, key rotations,
    offboardings; in a seeded random order."""
    planned: list[Planned] = []
    n = 0

    def nxt() -> str:
        nonlocal n
        n += 1
        return person(n - 1)

    for _ in range(30):
        who = nxt()
        planned.append(
            Planned("access", who, lambda w=who: users.ask_access(d, w, "zoom-users", "Customer calls"),
                    detail={"group": "zoom-users"})
        )
    for i in range(14):
        who, deny = nxt(), i % 5 == 4
        planned.append(
            Planned(
                "access",
                who,
                lambda w=who: users.ask_access(d, w, "netsuite-finance", "Quarter close"),
                lambda ref, deny=deny: users.decide(d, "oscar", ref, approve=not deny, timeout=WAIT,
                                                    reason="Finance access goes through the controller"),
                expect="denied" if deny else "done",
                detail={"group": "netsuite-finance"},
            )
        )
    for _ in range(6):
        who = nxt()

        def two_steps(ref: int) -> None:
            users.decide(d, "mona", ref, approve=True, timeout=WAIT)
            users.decide(d, "erin", ref, approve=True, timeout=WAIT)

        planned.append(
            Planned("access", who, lambda w=who: users.ask_access(d, w, "aws-sandbox-admins", "Incident", "4h"),
                    two_steps, detail={"group": "aws-sandbox-admins"})
        )
    for i in range(20):
        who = nxt()
        summary = IT_SUMMARIES[i % len(IT_SUMMARIES)].format(n=who)
        planned.append(
            Planned("it_request", who, lambda w=who, s=summary: users.file_it_request(d, w, s, "Since this morning"),
                    expect="filed")
        )
    for i in range(8):
        text = f"Payroll export {i} to NetSuite failed for the {i}th time <https://helpdesk.example.com/t/{4700 + i}>"
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
        who = nxt()
        planned.append(Planned("key_rotation", who, lambda w=who: users.rotate_own_keys(d, w, WAIT), expect="running"))
    for i in range(12):
        who = nxt()
        requester, approver = ("hank", "grace") if i % 2 else ("grace", "heidi")
        planned.append(
            Planned(
                "offboarding",
                who,
                lambda w=who, r=requester: users.offboard(d, r, f"{w}@example.com", "Last day was Friday", WAIT),
                lambda ref, a=approver: users.decide(d, a, ref, approve=True, timeout=WAIT),
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
        running.wait_idle(60)  # the role cache is filled; the subprocesses take over from here
        running.stop_app()
        yield running
    finally:
        running.stop()


def keys_of(stack: Stack, iam_user: str) -> list[str]:
    assert stack.moto is not None
    iam = sandbox_client("iam", stack.moto.url)
    return [k["AccessKeyId"] for k in iam.list_access_keys(UserName=iam_user)["AccessKeyMetadata"]]


def secret_versions(stack: Stack, name: str) -> int:
    assert stack.moto is not None
    secrets = sandbox_client("secretsmanager", stack.moto.url)
    return len(secrets.list_secret_version_ids(SecretId=name, IncludeDeprecated=True)["Versions"])


def okta_suspensions(stack: Stack, login: str) -> int:
    """Suspensions that took effect (Okta refuses to suspend a user who is not active)."""
    user_id = stack.okta.user_id(login)
    return sum(
        1 for c in stack.okta.calls
        if c.method == "POST" and c.path == f"/api/v1/users/{user_id}/lifecycle/suspend" and c.status < 400
    )


def count_in_dm(stack: Stack, who: str, *needles: str) -> int:
    return sum(
        1 for m in stack.slack.dm(who) if all(n in message_as_text(m.text, m.blocks) for n in needles)
    )


@pytest.mark.timeout(240)
def test_worker_killed_at_random_moments_loses_and_repeats_nothing(
    stack: Stack, database_url: str, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    for standin in (stack.okta, stack.google, stack.gitlab):
        standin.latency = 0.05
    stack.slack.latency = 0.02
    driver = stack.driver
    assert driver is not None
    zoom_before = stack.okta.members("zoom-users")
    old_keys: dict[str, list[str]] = {}

    durable = Durable(database_url)
    with BotProcesses(stack.env, tmp_path / "logs") as bot:
        driver.app_url = bot.web("web")
        bot.worker(WORKER)
        bot.wait_started(WORKER)

        planned = plan(driver, rng)
        for p in planned:
            if p.kind == "key_rotation":
                old_keys[p.who] = keys_of(stack, p.who)
        kills: list[float] = [rng.uniform(1.5, 6.0) for _ in range(KILLS)]
        killed: list[str] = []

        def killer() -> None:
            for delay in kills:
                bot.wait_started(WORKER)
                time.sleep(delay)
                bot.kill(WORKER)
                killed.append(f"after {delay:.1f}s")
                bot.restart(WORKER)
            bot.wait_started(WORKER)

        thread = threading.Thread(target=killer, name="killer", daemon=True)
        thread.start()
        try:
            for p in planned:
                p.ref = p.submit()
            for p in planned:
                if p.decide is not None:
                    p.decide(p.ref)
            thread.join(timeout=120)
            assert len(killed) == KILLS, killed
            drain = durable.wait_drained(120)
        except BaseException:
            print(bot.logs())
            raise
        print(f"\n{len(planned)} requests, {len(killed)} kills ({', '.join(killed)}), drained {drain:.1f}s after")
        assert durable.crashed() == []

    durable.close()
    # --- every request reached its final state; the numbers the users were given are all there ---
    stored = requests_by_id(database_url)
    assert sorted(p.ref for p in planned) == sorted(stored), "a request number given to a user is missing"
    unfinished = {
        f"REQ-{p.ref} {p.kind}": (stored[p.ref].status, stored[p.ref].error)
        for p in planned
        if stored[p.ref].status != p.expect
    }
    assert unfinished == {}

    # --- no effect repeated ---
    assert repeated_messages(stack.slack) == []
    assert repeated_issues(stack.gitlab, stack.directory.gitlab_projects) == []
    for p in planned:
        ref = f"REQ-{p.ref}"
        if p.kind == "access":
            group = p.detail["group"]
            member = f"{p.who}@example.com" in stack.okta.members(group)
            assert member == (p.expect == "done"), (ref, group)
            wording = "is now in" if p.expect == "done" else "was denied"
            assert count_in_dm(stack, p.who, wording, ref) == 1, (ref, wording)
        elif p.kind in ("it_request", "escalation"):
            issues = [i for p_ in stack.directory.gitlab_projects for i in stack.gitlab.issues(p_)
                      if i["title"].endswith(f"({ref})")]
            assert len(issues) == 1, (ref, issues)
        elif p.kind == "key_rotation":
            keys = keys_of(stack, p.who)
            assert len(keys) == 2 and set(old_keys[p.who]) < set(keys), (ref, keys)
            assert secret_versions(stack, f"engops/iam/{p.who}") == 1, ref
            assert count_in_dm(stack, p.who, "stored in Secrets Manager as", ref) == 1, ref
        elif p.kind == "offboarding":
            email = f"{p.who}@example.com"
            assert stack.okta.user_status(email) == "SUSPENDED" and okta_suspensions(stack, email) == 1, ref
            assert stack.google.is_suspended(email), ref
            records = [i for i in stack.gitlab.issues(OFFBOARDING_TRACKER) if i["title"].startswith(f"Offboarding {ref}:")]
            assert len(records) == 1, (ref, records)
    assert stack.okta.members("zoom-users") == zoom_before | {
        f"{p.who}@example.com" for p in planned if p.detail.get("group") == "zoom-users"
    }
