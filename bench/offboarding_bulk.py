"""Bulk offboarding of 500 people against stand-ins that enforce Okta's and Google's limits.

    .venv/bin/python bench/offboarding_bulk.py [--people 500] [--factor 3]

Okta allows ~600 writes a minute, Google 2,400 queries a minute (SPEC §7). Both are multiplied by
`--factor` so the run is short; the stand-ins enforce them in 1-second windows and the Google
adapter's token bucket is set to the same scaled rate. The floor is the time those limits impose on
the run's calls (Okta: suspend + clear sessions per person; Google: get + suspend + sign out).
Measured from the approval click to the request's final state; target completion / floor <= 1.15.

Every stand-in (moto included) runs in this process with the bot, sharing one interpreter lock:
about 45 ms of CPU a person here, so above a factor of ~3.5 the machine, not the limits, is the bound.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.population import with_generated_people  # noqa: E402
from engops.sandbox.base import FixedWindowLimiter  # noqa: E402
from engops.sandbox.stack import Stack, StackOptions  # noqa: E402

OKTA_WRITES_PER_MINUTE = 600
GOOGLE_QUERIES_PER_MINUTE = 2400


class WholeSecondLimiter(FixedWindowLimiter):
    """Fixed windows that start on whole multiples of the period, as Okta's minute windows do.

    Okta's `X-Rate-Limit-Reset` is whole epoch seconds; with windows scaled down to one second, a
    window starting mid-second would make every reset up to a second late, an artefact of the
    scaling rather than of the client."""

    def take(self) -> tuple[bool, int, float]:
        with self._lock:
            now = time.time()
            start = now - now % self.period
            if start != self._window_start:
                self._window_start, self._count = start, 0
            reset = start + self.period
            if self._count >= self.limit:
                self.rejected += 1
                return False, 0, reset
            self._count += 1
            self.accepted += 1
            return True, self.limit - self._count, reset


class BenchStack(Stack):
    """The sandbox stack with the Google adapter's token bucket at the scaled rate."""

    google_per_minute = float(GOOGLE_QUERIES_PER_MINUTE)

    def _start_app(self) -> None:
        from bot.providers.google import GoogleAdapter
        from engops.runner import start_web
        from engops.services import build_services

        assert self.settings is not None and self.policy is not None
        settings = self.settings
        assert settings.google_application_credentials and settings.google_admin_subject
        google = GoogleAdapter(
            settings.google_application_credentials,
            settings.google_admin_subject,
            settings.google_api_url,
            queries_per_minute=self.google_per_minute,
        )
        services = build_services(settings, self.policy, in_process_worker=True, clock=self.clock, google=google)
        self.web = start_web(
            settings, self.policy, port=self.options.app_port, executor_id=self.options.executor_id, services=services
        )


def submit_bulk(stack: Stack, emails: list[str], requester: str) -> int:
    from bot.policy import Policy
    from workflows.engine.approvals import open_request
    from workflows.offboarding.flow import new_request

    assert stack.web is not None and isinstance(stack.policy, Policy)
    services = stack.web.services
    requester_id = stack.slack.user(requester).id
    req = open_request(
        services.db,
        services.dispatcher,
        new_request(
            stack.policy,
            requester_slack_id=requester_id,
            requester_email=requester,
            emails=emails,
            reason="bench: reorganisation",
            source="bench.csv",
            channel_id=None,
        ),
    )
    assert req.id is not None
    return req.id


def status_of(stack: Stack, request_id: int) -> str:
    from bot.db.models import Request

    assert stack.web is not None
    with stack.web.services.db.session() as session:
        req = session.get(Request, request_id)
        assert req is not None
        return req.status


def failed_steps(stack: Stack, request_id: int) -> int:
    from sqlmodel import select

    from bot.db.models import Run, RunStep

    assert stack.web is not None
    with stack.web.services.db.session() as session:
        run = session.exec(select(Run).where(Run.request_id == request_id)).first()
        assert run is not None
        return len(list(session.exec(select(RunStep).where(RunStep.run_id == run.id, RunStep.status == "failed"))))


def run(people: int, factor: float) -> dict[str, Any]:
    directory = with_generated_people(people)
    leavers = [p.email for p in directory.people if p.handle.startswith("load")]
    BenchStack.google_per_minute = GOOGLE_QUERIES_PER_MINUTE * factor
    stack = BenchStack.start(StackOptions(data_dir=Path(tempfile.mkdtemp(prefix="engops-bench-"))), directory)
    try:
        assert stack.driver is not None
        stack.wait_idle(timeout=120)
        okta_per_second = OKTA_WRITES_PER_MINUTE * factor / 60
        google_per_second = GOOGLE_QUERIES_PER_MINUTE * factor / 60
        request_id = submit_bulk(stack, leavers, "hank@example.com")
        stack.wait_for(lambda: status_of(stack, request_id) == "pending", timeout=300, what="the plan")
        stack.wait_idle(timeout=60)  # the approval cards are posted
        stack.okta.write_limiter = WholeSecondLimiter(round(okta_per_second), 1.0)
        stack.google.limiter = WholeSecondLimiter(round(google_per_second), 1.0)
        stack.okta.reset_log()
        stack.google.reset_log()
        okta_429_before, google_429_before = stack.okta.seen_rate_limited, stack.google.seen_rate_limited
        stack.okta.max_in_flight = 0
        started = time.monotonic()
        stack.driver.click("grace", "Approve")
        stack.wait_for(
            lambda: status_of(stack, request_id) not in ("approved", "running", "pending"), timeout=3600, what="the run"
        )
        elapsed = time.monotonic() - started
        stack.wait_idle(timeout=120)  # the final progress update and DMs, before the stack stops
        okta_writes = sum(1 for c in stack.okta.calls if c.method in ("POST", "DELETE") and c.status < 400)
        google_queries = sum(1 for c in stack.google.calls if "/token" not in c.path and c.status < 400)
        floor = max(okta_writes / okta_per_second, google_queries / google_per_second)
        return {
            "people": len(leavers),
            "factor": factor,
            "status": status_of(stack, request_id),
            "failed_steps": failed_steps(stack, request_id),
            "seconds": elapsed,
            "okta_writes": okta_writes,
            "google_queries": google_queries,
            "floor": floor,
            "ratio": elapsed / floor,
            "okta_429": stack.okta.seen_rate_limited - okta_429_before,
            "google_429": stack.google.seen_rate_limited - google_429_before,
            "okta_max_in_flight": stack.okta.max_in_flight,
        }
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=500)
    parser.add_argument("--factor", type=float, default=3.0, help="multiplies both providers' limits")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    r = run(args.people, args.factor)
    print(
        "| people | limits x | status | failed steps | Okta writes | Google queries | seconds | floor s | "
        "ratio (target <= 1.15) | Okta 429s | Google 429s | Okta max concurrency |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print(
        f"| {r['people']} | {r['factor']:g} | {r['status']} | {r['failed_steps']} | {r['okta_writes']} | "
        f"{r['google_queries']} | {r['seconds']:.1f} | {r['floor']:.1f} | {r['ratio']:.2f} | {r['okta_429']} | "
        f"{r['google_429']} | {r['okta_max_in_flight']} |"
    )


if __name__ == "__main__":
    main()
