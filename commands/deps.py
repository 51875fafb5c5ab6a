"""What the Slack entry points need, handed in by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk import WebClient

from bot.clock import Clock
from bot.db.engine import Database
from bot.policy import Policy
from workflows.engine.durable import Dispatcher


@dataclass(frozen=True)
class Deps:
    policy: Policy
    db: Database
    dispatcher: Dispatcher
    clock: Clock
    slack: WebClient  # for views.open, the one Slack call made before the ack
