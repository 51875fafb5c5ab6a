"""`engops`: the console script (SPEC §7)."""

from __future__ import annotations

import getpass
import json
import logging
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.settings import Mode, Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from bot.db.engine import Database

app = typer.Typer(no_args_is_help=True, add_completion=False, help="EngOps Bot: Slack ChatOps for IT engineering.")
db_app = typer.Typer(no_args_is_help=True, help="Database maintenance.")
audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit log.")
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
triage_app = typer.Typer(no_args_is_help=True, help="The team classifier that triages IT requests.")
app.add_typer(triage_app, name="triage")

log = logging.getLogger("engops")


def _fail(lines: list[str], code: int = 2) -> typer.Exit:
    for line in lines:
        typer.echo(line, err=True)
    return typer.Exit(code)


def _settings(mode: Mode) -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise _fail(exc.problems) from None
    problems = settings.problems_for(mode)
    if problems:
        raise _fail(problems)
    return settings


def _policy(settings: Settings):  # type: ignore[no-untyped-def]
    from bot.policy import PolicyError, load_policy

    try:
        return load_policy(Path(settings.engops_policy))
    except PolicyError as exc:
        raise _fail([f"ENGOPS_POLICY ({settings.engops_policy}): {p}" for p in str(exc).splitlines()]) from None
    except OSError as exc:
        raise _fail([f"ENGOPS_POLICY: cannot read {settings.engops_policy}: {exc.strerror}"]) from None


def _logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


_STOP = threading.Event()


def _stop_on_signals() -> None:
    """From the first moment of a long-running command, SIGINT and SIGTERM ask it to stop: one that comes while it
    starts is kept, and it stops as soon as it has started (taken over only once it said it is ready, a Ctrl-C
    right after "ready" raised KeyboardInterrupt outside the shutdown, which left it running). A second Ctrl-C
    interrupts at once."""

    def stop(*_: object) -> None:
        _STOP.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)


def _wait_for_signal() -> None:
    _STOP.wait()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "0.0.0.0",  # noqa: S104
    port: Annotated[int, typer.Option(help="port", envvar="PORT")] = 3000,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="web only; run `engops worker` beside it")] = False,
    worker_id: Annotated[str | None, typer.Option("--id", help="worker id (default: host name)")] = None,
    threads: Annotated[int, typer.Option(help="request threads")] = 16,
) -> None:
    """HTTP mode: /slack/events, /gitlab/webhook, /healthz, /readyz, /metrics."""
    _stop_on_signals()
    _logging()
    settings = _settings(Mode.SERVE)
    policy = _policy(settings)
    from engops.runner import run_web

    run_web(
        settings,
        policy,
        host=host,
        port=port,
        in_process_worker=not no_worker,
        executor_id=worker_id,
        threads=threads,
        wait=_wait_for_signal,
    )


@app.command()
def socket() -> None:
    """Socket Mode (local development, no public URL)."""
    _stop_on_signals()
    _logging()
    settings = _settings(Mode.SOCKET)
    policy = _policy(settings)
    from engops.runner import SocketModeRefused, run_socket

    try:
        run_socket(settings, policy, wait=_wait_for_signal)
    except SocketModeRefused as exc:
        raise _fail([str(exc)], code=1) from None


@app.command()
def worker(
    worker_id: Annotated[
        str | None, typer.Option("--id", help="stable, unique per live worker; default host name")
    ] = None,
) -> None:
    """Background worker only (scale-out)."""
    _stop_on_signals()
    _logging()
    settings = _settings(Mode.WORKER)
    policy = _policy(settings)
    from engops.runner import run_worker

    run_worker(settings, policy, executor_id=worker_id, wait=_wait_for_signal)


@app.command()
def check(live: Annotated[bool, typer.Option("--live", help="also reach every configured service")] = False) -> None:
    """Validate settings and policy; --live also reaches every service."""
    settings = _settings(Mode.CHECK)
    policy = _policy(settings)
    typer.echo(
        f"settings: ok\npolicy: ok ({settings.engops_policy}: {len(policy.teams)} teams, "
        f"{len(policy.access.groups)} access groups)"
    )
    for note in policy.not_carried_out():
        typer.echo(f"note: {note}")
    if not live:
        return
    from engops.live_check import run_live_checks

    failures = 0
    for result in run_live_checks(settings, policy):
        typer.echo(f"{'ok  ' if result.ok else 'FAIL'} {result.service}: {result.message}")
        failures += 0 if result.ok else 1
    if failures:
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations."""
    settings = _settings(Mode.CLI)
    from bot.db.migrate import upgrade

    upgrade(settings.database_url)
    typer.echo("database is up to date")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit chain; names the first entry that was changed, removed or reordered."""
    settings = _settings(Mode.CLI)
    from bot import audit
    from bot.db.engine import Database

    result = audit.verify(Database(settings.database_url))
    if result.ok:
        typer.echo(f"audit log intact: {result.checked} entries")
        return
    raise _fail([f"audit log broken: {result.problem}"], code=1)


@audit_app.command("export")
def audit_export(
    since: Annotated[str | None, typer.Option(help="ISO date or datetime (UTC)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv")] = "jsonl",
) -> None:
    """Export the audit log to standard output."""
    settings = _settings(Mode.CLI)
    if fmt not in ("jsonl", "csv"):
        raise _fail([f"--format must be jsonl or csv, not {fmt!r}"])
    since_dt = None
    if since:
        try:
            since_dt = datetime.fromisoformat(since)
        except ValueError:
            raise _fail([f"--since: not an ISO date: {since!r}"]) from None
        if since_dt.tzinfo is None:
            since_dt = since_dt.replace(tzinfo=UTC)
    from bot import audit
    from bot.db.engine import Database

    for chunk in audit.export(Database(settings.database_url), fmt, since_dt):
        sys.stdout.write(chunk)


@triage_app.command("retrain")
def triage_retrain(
    by: Annotated[str, typer.Option(help="who retrains, for the audit log")] = "",
    ship: Annotated[
        bool, typer.Option("--ship", help="developers: refit the model shipped for the example policy (no database)")
    ] = False,
) -> None:
    """Train the team classifier now (shipped examples, policy, recorded corrections) and make it live."""
    if ship:
        from bot.policy import load_policy
        from engops.sandbox.stack import EXAMPLE_POLICY
        from engops.triage_retrain import write_shipped

        typer.echo(f"wrote {write_shipped(load_policy(EXAMPLE_POLICY))}")
        return
    settings = _settings(Mode.CLI)
    policy = _policy(settings)
    from bot.db.engine import Database
    from engops.triage_retrain import CannotTrain, retrain

    who = by or f"cli:{getpass.getuser()}"
    try:
        done = retrain(
            _migrated(Database(settings.database_url)), policy, by=who, progress=lambda line: typer.echo(line, err=True)
        )
    except CannotTrain as exc:
        raise _fail([f"cannot train the team classifier: {exc}"], code=1) from None
    m = done.measured
    typer.echo(f"learnt from {m.examples} examples and {m.corrections} corrections")
    if m.accuracy_with_corrections is None or m.accuracy_without_corrections is None:
        typer.echo("cross-validated accuracy: not measured (no labelled requests for these teams yet)")
    else:
        typer.echo(
            "cross-validated accuracy: "
            f"{m.accuracy_with_corrections:.1%} with the corrections, {m.accuracy_without_corrections:.1%} without"
        )
    if m.corrections:
        typer.echo(
            f"corrected requests filed right: {m.corrections_right_with:.1%} with, {m.corrections_right_without:.1%} "
            "without"
        )
    before = f" (was v{done.stored.previous})" if done.stored.previous is not None else ""
    typer.echo(f"model v{done.stored.version} is live{before}")


@triage_app.command("rollback")
def triage_rollback(by: Annotated[str, typer.Option(help="who rolls back, for the audit log")] = "") -> None:
    """Make the model that was live before the live one live again."""
    settings = _settings(Mode.CLI)
    from bot.db.engine import Database
    from workflows.tickets.model_store import NothingToRollBackTo, roll_back, teams_fingerprint

    policy = _policy(settings)
    try:
        done = roll_back(_migrated(Database(settings.database_url)), by=by or f"cli:{getpass.getuser()}")
    except NothingToRollBackTo as exc:
        raise _fail([str(exc)], code=1) from None
    typer.echo(f"model v{done.version} is live again (was v{done.previous})")
    if done.teams_fingerprint != teams_fingerprint(policy):
        typer.echo(
            f"note: model v{done.version} was trained for other teams than the policy's: triage uses the keywords "
            "until `engops triage retrain`"
        )


def _migrated(db: Database) -> Database:
    """The database, if `engops db upgrade` made its tables; else a clear line and exit 2."""
    from sqlalchemy import inspect

    if not inspect(db.engine).has_table("triage_model"):
        raise _fail(["the database has no triage tables yet: run `engops db upgrade` first"])
    return db


@app.command()
def manifest(
    url: Annotated[
        str, typer.Option(help="public base URL of `engops serve`, or its events URL (…/slack/events)")
    ] = "https://engops.example.com",
    socket: Annotated[bool, typer.Option("--socket", help="Socket Mode manifest (no URLs)")] = False,
) -> None:
    """Print the Slack app manifest."""
    from bot.slack.manifest import build_manifest

    typer.echo(json.dumps(build_manifest(url, socket=socket), indent=2))


@app.command()
def offboard(
    file: Annotated[Path, typer.Option("--file", help="CSV with a header row: `email` (required), `reason`")],
    as_email: Annotated[str, typer.Option("--as", help="the requester; must hold an offboarding.allowed role")],
    no_wait: Annotated[bool, typer.Option("--no-wait", help="return once submitted")] = False,
) -> None:
    """Bulk offboarding from a CSV: one request, approved in Slack, with a progress bar."""
    settings = _settings(Mode.CLI)
    policy = _policy(settings)
    from engops.cli_offboard import offboard_from_csv

    code = offboard_from_csv(settings, policy, file, as_email, wait=not no_wait)
    if code:
        raise typer.Exit(code)


@app.command()
def sandbox(
    port: Annotated[int, typer.Option(help="console port")] = 3000,
    data_dir: Annotated[Path, typer.Option(help="where the sandbox keeps its database")] = Path(".sandbox"),
) -> None:
    """Everything on one machine, no accounts: stand-ins, the bot, demo policy and directory."""
    _stop_on_signals()
    _logging("WARNING")
    from engops.sandbox.run import run_sandbox

    run_sandbox(port=port, data_dir=data_dir, wait=_wait_for_signal)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
