"""Publishing the App Home tab from stored state."""

from __future__ import annotations

from bot.db import queries
from bot.slack.home import home_view
from workflows.engine import runtime
from workflows.engine.durable import Dispatcher, durable, step


def request_home(dispatcher: Dispatcher, slack_id: str, event_id: str) -> None:
    dispatcher.enqueue("publish_home", f"home-{event_id}", slack_id)


@step("workflows.home._publish", retries_allowed=True, max_attempts=3, interval_seconds=1.0)
def _publish(slack_id: str) -> None:
    rt = runtime.current()
    with rt.db.session() as session:
        email = queries.email_of(session, slack_id)
        requests = queries.open_requests_of(session, slack_id)
        grants = queries.active_grants_held_by(session, slack_id, email)
        waiting = queries.waiting_on(session, slack_id, email)
    rt.slack.publish_home(slack_id, home_view(requests, grants, waiting))


@durable("publish_home")
def publish_home(slack_id: str) -> None:
    _publish(slack_id)
