"""Process lifecycles: web (+ in-process worker), worker alone, Socket Mode."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

from bot.db.migrate import upgrade
from bot.policy import Policy
from bot.settings import Settings
from engops import worker as dbos_worker
from engops.http_server import hardened_server
from engops.services import Services, build_services

log = logging.getLogger(__name__)


def exit_now_if_threads_linger() -> None:
    """Called once the process has shut down. A workflow DBOS was still running at shutdown (a step waiting on a
    slow provider, or retrying one that is already stopped) runs on in a non-daemon thread, which keeps the
    interpreter from exiting for as long as it lasts (Ctrl-C on `engops sandbox` took up to a minute), and keeps
    calling providers with no database to record what it did. DBOS runs that work again at the next start, so
    the process leaves now instead of waiting for it."""
    lingering = [t.name for t in threading.enumerate() if not t.daemon and t is not threading.current_thread()]
    if not lingering:
        return
    log.warning("not waiting for %d thread(s) still running at shutdown: %s", len(lingering), ", ".join(lingering))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def until_stopped(wait: Callable[[], None]) -> None:
    """`wait()`, for SIGINT or SIGTERM; a Ctrl-C that comes before `wait` has taken SIGINT over (just after the
    process said it is ready) is the same request to stop, not an error."""
    with contextlib.suppress(KeyboardInterrupt):
        wait()


@dataclass
class RunningWeb:
    services: Services
    url: str
    stop: Callable[..., None]  # stop(grace_seconds=10)


def start_web(
    settings: Settings,
    policy: Policy,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    in_process_worker: bool = True,
    executor_id: str | None = None,
    threads: int = 16,
    services: Services | None = None,
) -> RunningWeb:
    """Migrate, start the worker (unless web-only) and serve HTTP in a background thread."""
    for note in policy.not_carried_out():
        log.warning("policy %s", note)
    upgrade(settings.database_url)
    services = services or build_services(settings, policy, in_process_worker=in_process_worker)
    if in_process_worker:
        dbos_worker.launch(settings.database_url, executor_id or dbos_worker.default_executor_id())
    server = hardened_server(services.web_app(), host=host, port=port, threads=threads)
    bound_port = server.effective_port  # type: ignore[union-attr]
    stopping = threading.Event()

    def serve() -> None:
        try:
            server.run()
        except (OSError, ValueError):
            if not stopping.is_set():  # closing the socket under the loop is how waitress stops
                raise

    thread = threading.Thread(target=serve, name="engops-http", daemon=True)
    thread.start()

    def stop(grace_seconds: int = 10) -> None:
        stopping.set()
        server.close()
        thread.join(timeout=5)
        if in_process_worker:
            dbos_worker.shutdown(grace_seconds)
        services.close()

    return RunningWeb(services=services, url=f"http://{host}:{bound_port}", stop=stop)


def run_web(
    settings: Settings,
    policy: Policy,
    *,
    host: str,
    port: int,
    in_process_worker: bool,
    executor_id: str | None,
    threads: int,
    wait: Callable[[], None],
) -> None:
    web = start_web(
        settings,
        policy,
        host=host,
        port=port,
        in_process_worker=in_process_worker,
        executor_id=executor_id,
        threads=threads,
    )
    log.info("serving on %s (worker %s)", web.url, "in-process" if in_process_worker else "separate")
    try:
        until_stopped(wait)
    finally:
        web.stop()
    exit_now_if_threads_linger()


def run_worker(settings: Settings, policy: Policy, *, executor_id: str | None, wait: Callable[[], None]) -> None:
    upgrade(settings.database_url)
    services = build_services(settings, policy, in_process_worker=True)
    dbos_worker.launch(settings.database_url, executor_id or dbos_worker.default_executor_id())
    log.info("worker running")
    try:
        until_stopped(wait)
    finally:
        dbos_worker.shutdown()
        services.close()
    exit_now_if_threads_linger()


class SocketModeRefused(Exception):
    """Slack would not open a Socket Mode connection (wrong app token, Slack unreachable); one line."""


def run_socket(settings: Settings, policy: Policy, *, wait: Callable[[], None]) -> None:
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_sdk.errors import SlackApiError

    from engops.app import build_app

    assert settings.slack_app_token is not None
    app_token = settings.slack_app_token.get_secret_value()
    upgrade(settings.database_url)
    services = build_services(settings, policy, in_process_worker=True)
    try:
        # Asked here, before the worker starts, so a refused token ends the process with one line
        # (the SDK would log the whole response and raise mid-start). The SDK connects to this URL.
        first_url = str(services.messenger.client.apps_connections_open(app_token=app_token)["url"])
    except SlackApiError as exc:
        services.close()
        raise SocketModeRefused(f"SLACK_APP_TOKEN: Slack refused Socket Mode ({exc.response.get('error')})") from None
    except OSError as exc:
        services.close()
        raise SocketModeRefused(f"SLACK_API_URL: cannot reach Slack for Socket Mode ({exc})") from None
    dbos_worker.launch(settings.database_url, dbos_worker.default_executor_id())
    bolt = build_app(
        signing_secret=(
            settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else "socket-mode"
        ),
        client=services.messenger.client,
        deps=services.deps(),
    )
    handler = SocketModeHandler(bolt, app_token)
    handler.client.wss_uri = first_url
    try:
        handler.connect()  # type: ignore[no-untyped-call]
        log.info("Socket Mode connected (reconnects on its own when Slack asks)")
        until_stopped(wait)
    finally:
        handler.close()  # type: ignore[no-untyped-call]
        dbos_worker.shutdown()
        services.close()
    exit_now_if_threads_linger()
