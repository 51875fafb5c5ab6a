"""The composition root: the one place adapters, storage and the Slack app are constructed.

Every process knows every kind of request and every durable workflow (`workflows.registry`): a web-only replica
(`serve --no-worker`) answers Retry and `/engops status` for kinds whose listeners never import the module that
registers them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import workflows.registry  # noqa: F401  (every kind and workflow, in every process: see the docstring)
from bot.clock import Clock, SystemClock
from bot.db.engine import Database
from bot.metrics import Metrics
from bot.policy import Policy
from bot.providers.factory import build_providers
from bot.settings import Settings
from bot.slack.messenger import Messenger, make_client
from bot.slack.post_ledger import PostLedger
from commands.deps import Deps
from engops.web import WebApp
from workflows.engine import runtime
from workflows.engine.durable import ClientDispatcher, Dispatcher, InProcessDispatcher
from workflows.engine.runtime import Patience, Runtime

# Slack gives up on an ack after 3 s: on the ack path a database that does not answer within this gets a
# "try again" (and nothing is written), instead of an ack that comes too late for a change that lands anyway.
ACK_PATH_DB_WAIT = 2.0


@dataclass
class Services:
    settings: Settings
    policy: Policy
    db: Database  # the workflows' (patient) connection
    ack_db: Database  # the Slack listeners' (quick to give up) connection to the same database
    messenger: Messenger
    runtime: Runtime
    dispatcher: Dispatcher
    metrics: Metrics = field(default_factory=Metrics)
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def deps(self) -> Deps:
        return Deps(
            policy=self.policy,
            db=self.ack_db,
            dispatcher=self.dispatcher,
            clock=self.runtime.clock,
            slack=self.messenger.client,
        )

    def web_app(self) -> WebApp:
        from commands.gitlab_webhook import make_handler
        from engops.app import build_app
        from workflows.tickets.webhooks import accept_gitlab_event

        assert self.settings.slack_signing_secret is not None
        signing_secret = self.settings.slack_signing_secret.get_secret_value()
        bolt = build_app(
            signing_secret=signing_secret,
            client=self.messenger.client,
            deps=self.deps(),
        )
        secret = self.settings.gitlab_webhook_secret
        webhook = make_handler(
            secret.get_secret_value() if secret else None,
            lambda event, body: accept_gitlab_event(self.dispatcher, event, body),
        )
        return WebApp(bolt, self.ack_db, self.metrics, webhook, signing_secret)

    def close(self) -> None:
        for closer in reversed(self._closers):
            closer()
        self.ack_db.dispose()
        self.db.dispose()


def build_services(
    settings: Settings,
    policy: Policy,
    *,
    in_process_worker: bool,
    clock: Clock | None = None,
    patience: Patience | None = None,
    **provider_overrides: Any,
) -> Services:
    db = Database(settings.database_url)
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else "xoxb-unset"
    messenger = Messenger(make_client(token, settings.slack_api_url), PostLedger(db))
    providers = build_providers(settings, **provider_overrides)
    rt = Runtime(
        settings=settings,
        policy=policy,
        db=db,
        slack=messenger,
        clock=clock or SystemClock(),
        patience=patience or Patience(),
        okta=providers.okta,
        google=providers.google,
        aws=providers.aws,
        gitlab=providers.gitlab,
    )
    runtime.install(rt)
    dispatcher: Dispatcher
    closers: list[Callable[[], None]] = [providers.close]
    if in_process_worker:
        dispatcher = InProcessDispatcher()
    else:
        client_dispatcher = ClientDispatcher(settings.database_url)
        closers.append(client_dispatcher.close)
        dispatcher = client_dispatcher
    return Services(
        settings=settings,
        policy=policy,
        db=db,
        ack_db=Database(settings.database_url, wait=ACK_PATH_DB_WAIT),
        messenger=messenger,
        runtime=rt,
        dispatcher=dispatcher,
        _closers=closers,
    )
