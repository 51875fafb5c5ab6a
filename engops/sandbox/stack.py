"""The whole system on one machine: every stand-in, the bot in HTTP mode with its worker, and a
driver that acts as Slack. Used by `engops sandbox`, the scenario tests and the benchmarks.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from bot.clock import Clock, ManualClock, SystemClock
from bot.policy import Policy, load_policy
from bot.settings import Settings, load_settings
from engops.runner import RunningWeb, start_web
from engops.sandbox import aws as sandbox_aws
from engops.sandbox.base import RunningServer
from engops.sandbox.directory import Directory, demo_directory
from engops.sandbox.gitlab import DEFAULT_TOKEN as GITLAB_TOKEN
from engops.sandbox.gitlab import GitLabStandIn
from engops.sandbox.google import DEFAULT_ADMIN_SUBJECT, GoogleStandIn
from engops.sandbox.okta import DEFAULT_TOKEN as OKTA_TOKEN
from engops.sandbox.okta import OktaStandIn
from engops.sandbox.slack import SlackStandIn
from engops.sandbox.slack_driver import SlackDriver
from engops.services import build_services
from workflows.engine.runtime import Patience

# Package data (a link to the checkout's policy.example.yaml, copied into the wheel), so an installed `engops
# sandbox` finds it wherever it runs. Installed packages are plain directories, so this is a file on disk.
EXAMPLE_POLICY = Path(str(resources.files("engops.sandbox") / "policy.example.yaml"))
SIGNING_SECRET = "sandbox-signing-secret"  # noqa: S105  (a local stand-in's, not a real secret)
WEBHOOK_SECRET = "sandbox-webhook-secret"  # noqa: S105
BOT_TOKEN = "xoxb-sandbox-bot-token"  # noqa: S105
FAST_PATIENCE = Patience((0.2, 0.5, 1.0, 2.0))  # tests: the same waiting out of a silent provider, shorter
# moto accepts any credentials; these only keep boto3 from looking for real ones.
SANDBOX_AWS_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "sandbox",
    "AWS_SECRET_ACCESS_KEY": "sandbox",  # noqa: S105
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class StackOptions:
    data_dir: Path
    database_url: str | None = None
    policy_path: Path = EXAMPLE_POLICY
    manual_clock: bool = False
    fast_retries: bool = False  # tests: short provider back-off so failure paths finish quickly
    app_port: int = 0
    executor_id: str = field(default_factory=lambda: f"stack-{uuid.uuid4().hex[:6]}")
    seed_aws: bool = True


class Stack:
    """Start with `Stack.start(options)`; stop with `stop()`."""

    def __init__(self, options: StackOptions, directory: Directory) -> None:
        self.options = options
        self.directory = directory
        self.clock: Clock = ManualClock() if options.manual_clock else SystemClock()
        self.slack = SlackStandIn.from_directory(directory, bot_token=BOT_TOKEN)
        self.okta = OktaStandIn.from_directory(directory)
        self.google = GoogleStandIn.from_directory(directory)
        self.gitlab = GitLabStandIn.from_directory(directory)
        self._servers: list[RunningServer] = []
        self.moto: sandbox_aws.MotoServer | None = None
        self.aws_faults = sandbox_aws.AwsFaults()  # `stack.aws_faults.inject(Fault(...))`, like the stand-ins
        self.web: RunningWeb | None = None
        self.settings: Settings | None = None
        self.policy: Policy | None = None
        self.driver: SlackDriver | None = None
        self.env: dict[str, str] = {}

    @classmethod
    def start(cls, options: StackOptions, directory: Directory | None = None) -> Stack:
        stack = cls(options, directory or demo_directory())
        try:
            stack._start()
        except BaseException:
            stack.stop()
            raise
        return stack

    def _serve(self, app: Any) -> RunningServer:
        server = RunningServer(app)
        self._servers.append(server)
        return server

    def _start(self) -> None:
        opts = self.options
        opts.data_dir.mkdir(parents=True, exist_ok=True)
        slack_srv = self._serve(self.slack)
        self.slack.base_url = slack_srv.url
        okta_srv = self._serve(self.okta)
        google_srv = self._serve(self.google)
        gitlab_srv = self._serve(self.gitlab)
        key = self.google.issue_key(opts.data_dir / "google-service-account.json", google_srv.url)
        self.moto = sandbox_aws.MotoServer().start()
        self.moto.reset()  # moto keeps its backends per process, not per server
        if opts.seed_aws:
            sandbox_aws.seed_aws(self.moto.url, self.directory)
        env = {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": f"{slack_srv.url}/api/",
            "OKTA_CLIENT_ORGURL": okta_srv.url,
            "OKTA_CLIENT_TOKEN": OKTA_TOKEN,
            "GOOGLE_APPLICATION_CREDENTIALS": str(key.path),
            "GOOGLE_ADMIN_SUBJECT": DEFAULT_ADMIN_SUBJECT,
            "GOOGLE_API_URL": f"{google_srv.url}/",
            "AWS_ENDPOINT_URL": self.moto.url,
            **SANDBOX_AWS_CREDENTIALS,
            "GITLAB_URL": gitlab_srv.url,
            "GITLAB_TOKEN": GITLAB_TOKEN,
            "GITLAB_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "DATABASE_URL": opts.database_url or f"sqlite:///{opts.data_dir / 'engops.db'}",
            "ENGOPS_POLICY": str(opts.policy_path),
        }
        for name, value in SANDBOX_AWS_CREDENTIALS.items():
            os.environ.setdefault(name, value)  # boto3 reads its credentials from the environment
        self.env = env
        self.settings = load_settings(env)
        self.policy = load_policy(opts.policy_path)
        self._okta_url = okta_srv.url
        self._start_app()
        assert self.web is not None
        self.driver = SlackDriver(self.web.url, SIGNING_SECRET, self.slack)

    def _start_app(self) -> None:
        assert self.settings is not None and self.policy is not None
        overrides = self._fast_adapters(self._okta_url) if self.options.fast_retries else {}
        overrides["aws"] = self._aws_adapter()
        services = build_services(
            self.settings, self.policy, in_process_worker=True, clock=self.clock, patience=self.patience, **overrides
        )
        self.web = start_web(
            self.settings,
            self.policy,
            port=self.options.app_port,
            executor_id=self.options.executor_id,
            services=services,
        )

    def stop_app(self) -> None:
        """Stop the bot (web and worker); the stand-ins and the database stay."""
        if self.web is not None:
            self.web.stop(grace_seconds=0)  # like a crash: unfinished work resumes at the next start
            self.web = None

    def start_app(self) -> None:
        """Start the bot again on the same database, as after a deploy or a crash."""
        self._start_app()
        assert self.web is not None and self.driver is not None
        self.driver.app_url = self.web.url

    def _aws_adapter(self) -> Any:
        from bot.providers.aws import AwsAdapter

        assert self.settings is not None and self.moto is not None
        return AwsAdapter(
            self.moto.url,
            self.settings.aws_default_region,
            session=self.aws_faults.session(),
            throttle_backoff=0.05 if self.options.fast_retries else 0.5,
        )

    @staticmethod
    def _fast_adapters(okta_url: str) -> dict[str, Any]:
        from bot.providers.okta import OktaSdkDirectory

        return {"okta": OktaSdkDirectory(okta_url, api_token=OKTA_TOKEN, retry_attempts=3, retry_base_delay=0.02)}

    # --- helpers for tests and the console -----------------------------------------------------------
    @property
    def patience(self) -> Patience:
        """How long the bot waits out a provider that does not answer (tests: a few seconds)."""
        return FAST_PATIENCE if self.options.fast_retries else Patience()

    @property
    def url(self) -> str:
        assert self.web is not None
        return self.web.url

    def run_sweep(self) -> dict[str, int]:
        """Run the scheduled sweep now, at the stack's clock (tests move a ManualClock instead of waiting)."""
        from workflows.engine.sweep import run_sweep

        return run_sweep(self.clock.now())

    def advance(self, **delta: float) -> None:
        from datetime import timedelta

        assert isinstance(self.clock, ManualClock), "advance() needs StackOptions(manual_clock=True)"
        self.clock.advance(timedelta(**delta))

    def busy(self) -> list[str]:
        """The ids of durable work queued or running (scheduled ticks left out)."""
        from dbos import DBOS

        running = DBOS.list_workflows(status=["PENDING", "ENQUEUED"], load_input=False, load_output=False)
        return [w.workflow_id for w in running if not (w.workflow_id or "").startswith("sched-")]

    def wait_idle(self, timeout: float = 90.0) -> None:
        """Wait until no durable work is queued or running. Returns as soon as the bot is idle, so the bound only
        catches a bot that hangs: it is longer than any chain of the bot's own retries (adapter, step, patience),
        and a test never relies on a wait shorter than those."""
        deadline = time.monotonic() + timeout
        while (busy := self.busy()) and time.monotonic() < deadline:
            time.sleep(0.02)
        if busy:
            raise TimeoutError(f"durable work still running after {timeout}s: {busy[:10]}")

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.02)
        raise TimeoutError(f"timed out waiting for {what}")

    def stop(self) -> None:
        if self.web is not None:
            self.web.stop(grace_seconds=0)  # like a crash: unfinished work resumes at the next start
            self.web = None
        for server in reversed(self._servers):
            server.stop()
        self._servers.clear()
        if self.moto is not None:
            self.moto.stop()
            self.moto = None
