"""Scale-out: two web replicas and two workers on PostgreSQL take a burst of 300 requests from several
threads at once; one worker is SIGKILLed mid-burst and restarted with its id. Nothing is lost (every
request ends done or filed, its requester told once) and nothing happens twice (memberships, GitLab
issues, Slack messages). Prints the burst's rate and the time to drain; asserts no timings.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bench.population import with_generated_people
from engops.sandbox.slack_driver import SlackDriver
from engops.sandbox.stack import SIGNING_SECRET, Stack, StackOptions
from tests.support import driver_actions as users
from tests.support.databases import backend
from tests.support.effects import Durable, dms_about, repeated_issues, repeated_messages, requests_by_id
from tests.support.processes import BotProcesses

pytestmark = pytest.mark.skipif(
    backend() != "postgresql",
    reason="scale-out needs PostgreSQL (several processes share the database); run with ENGOPS_TEST_DB=postgresql",
)

REQUESTS = 300
THREADS = 8
KILL_AFTER = 120  # requests sent when worker w2 is killed
IT_EVERY = 3  # every third request is an /it request, the others ask for zoom-users (auto-approved)


@pytest.fixture
def stack(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    running = Stack.start(
        StackOptions(data_dir=tmp_path, database_url=database_url, seed_aws=False),
        with_generated_people(REQUESTS),
    )
    try:
        running.wait_idle(60)
        running.stop_app()  # the stand-ins and the migrated database stay; the bot runs as processes
        yield running
    finally:
        running.stop()


def send(driver: SlackDriver, n: int) -> tuple[str, int]:
    """Request n of the burst: (its kind, its number)."""
    who = f"load{n:04d}"
    if n % IT_EVERY == 0:
        summary = users.IT_SUMMARIES[n % len(users.IT_SUMMARIES)].format(n=who)
        return "it_request", users.file_it_request(driver, who, summary, "Needed for the launch")
    return "access", users.ask_access(driver, who, "zoom-users", "Customer calls")


@pytest.mark.timeout(240)
def test_burst_over_two_replicas_and_two_workers_one_killed(stack: Stack, database_url: str, tmp_path: Path) -> None:
    for standin in (stack.okta, stack.gitlab, stack.slack):
        standin.latency = 0.01
    zoom_before = stack.okta.members("zoom-users")
    durable = Durable(database_url)
    with BotProcesses(stack.env, tmp_path / "logs") as bot:
        drivers = [SlackDriver(bot.web(f"web{i}"), SIGNING_SECRET, stack.slack) for i in (1, 2)]
        for worker in ("w1", "w2"):
            bot.worker(worker)
        for worker in ("w1", "w2"):
            bot.wait_started(worker)

        sent: dict[int, tuple[str, int]] = {}
        lock = threading.Lock()
        killed = threading.Event()

        def one(n: int) -> None:
            result = send(drivers[n % 2], n)  # alternate between the replicas, as a load balancer would
            with lock:
                sent[n] = result
                due = len(sent) >= KILL_AFTER and not killed.is_set()
                if due:
                    killed.set()
            if due:
                bot.kill("w2")
                bot.restart("w2")

        try:
            started = time.monotonic()
            with ThreadPoolExecutor(THREADS) as pool:
                list(pool.map(one, range(REQUESTS)))
            burst = time.monotonic() - started
            drain = durable.wait_drained(150)
        except BaseException:
            print(bot.logs())
            raise
        assert killed.is_set()
        assert durable.crashed() == []
        avoided = sum(bot.procs[w].log_text().count("not posting it again") for w in ("w1", "w2"))
        print(
            f"\n{REQUESTS} requests from {THREADS} threads over 2 replicas in {burst:.1f}s "
            f"({REQUESTS / burst:.0f}/s acked); drained {drain:.1f}s after the last one "
            f"({REQUESTS / (burst + drain):.1f} requests/s end to end); w2 killed after {KILL_AFTER} requests: "
            f"{len(durable.recovered())} workflows resumed, {avoided} repeated Slack posts avoided; "
            f"workflows per worker {durable.ran_on()}"
        )
    durable.close()

    stored = requests_by_id(database_url)
    assert sorted(ref for _, ref in sent.values()) == sorted(stored)
    expected = {"access": "done", "it_request": "filed"}
    wrong = {ref: (kind, stored[ref].status) for kind, ref in sent.values() if stored[ref].status != expected[kind]}
    assert wrong == {}

    assert repeated_messages(stack.slack) == []
    assert repeated_issues(stack.gitlab, stack.directory.gitlab_projects) == []
    filed = [i["title"] for p in stack.directory.gitlab_projects for i in stack.gitlab.issues(p)]
    for n, (kind, ref) in sent.items():
        who = f"load{n:04d}"
        if kind == "access":
            assert dms_about(stack.slack, who, ref, "is now in zoom-users") == 1, ref
        else:
            assert sum(t.endswith(f"(REQ-{ref})") for t in filed) == 1, ref
            assert dms_about(stack.slack, who, ref, "is filed with") == 1, ref
    joined = {f"load{n:04d}@example.com" for n, (kind, _) in sent.items() if kind == "access"}
    assert stack.okta.members("zoom-users") == zoom_before | joined
