"""Prometheus metrics, one registry per process (no global state for tests to trip over)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.slack_requests = Counter(
            "engops_slack_requests", "Slack requests received", ["kind", "status"], registry=self.registry
        )
        self.ack_seconds = Histogram(
            "engops_ack_seconds",
            "Time from request received to ack sent",
            ["kind"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.provider_calls = Counter(
            "engops_provider_calls", "Calls to providers", ["provider", "outcome"], registry=self.registry
        )
        self.provider_rate_limited = Counter(
            "engops_provider_rate_limited", "429s and throttles received", ["provider"], registry=self.registry
        )
        self.workflow_outcomes = Counter(
            "engops_workflow_outcomes", "Finished workflows", ["workflow", "outcome"], registry=self.registry
        )
        self.webhooks = Counter("engops_gitlab_webhooks", "GitLab webhooks", ["status"], registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
