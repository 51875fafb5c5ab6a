"""Work left in flight by release 2 (commit 0a2a0ee) is finished by the current code (issue #14).

DBOS stores each workflow's and step's name, and pickles step outputs under the module names of their classes. A
workflow resumed after an upgrade replays its recorded steps by name (DBOSUnexpectedStepError when one differs) and
unpickles their outputs, so the current code must register every name release 2 wrote and still import the modules
its values name. The first test checks the names against DBOS's own registry; the second resumes a real release-2
state (tests/data/release2/, made by make_snapshot.py there) on the backend under test and sees it through to the
effect, as the people involved would."""

from __future__ import annotations

import base64
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from dbos import DBOS
from dbos._dbos import _get_or_create_dbos_registry

from bot.db.engine import plain_url, sqlalchemy_url
from bot.db.migrate import upgrade
from engops.sandbox.stack import Stack, StackOptions
from tests.support.effects import request_status
from tests.support.slack_actions import request_access
from workflows.engine.durable import APPLICATION_VERSION, Unanswered

DATA = Path(__file__).resolve().parents[1] / "data"
NAMES = DATA / "durable_names_release2.txt"
SNAPSHOT = DATA / "release2"
# Written by the migrations that make the schema here, not loaded from the snapshot.
MIGRATION_BOOKKEEPING = {"alembic_version", "dbos_migrations"}


def release2_names() -> list[tuple[str, str]]:
    lines = (line.strip() for line in NAMES.read_text().splitlines())
    names = [tuple(line.split()) for line in lines if line and not line.startswith("#")]
    assert names and all(len(n) == 2 and n[0] in ("workflow", "step") for n in names), "malformed names file"
    return [(kind, name) for kind, name in names]


def snapshot_rows(table: str) -> list[dict[str, Any]]:
    path = SNAPSHOT / "tables" / f"{table}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def manifest() -> dict[str, Any]:
    return dict(json.loads((SNAPSHOT / "snapshot.json").read_text()))


def test_every_name_release_2_recorded_is_registered_with_dbos() -> None:
    import workflows.registry  # noqa: F401  (what every worker imports before DBOS launches)

    registered = _get_or_create_dbos_registry().workflow_info_map
    # DBOS registers a workflow under its name and a step under "<temp>." + its name (see DBOS.step).
    missing = [
        f"{kind} {name}"
        for kind, name in release2_names()
        if (name if kind == "workflow" else f"<temp>.{name}") not in registered
    ]
    assert not missing, f"release 2 recorded names the current code does not register: {missing}"

    recorded = {r["function_name"] for r in snapshot_rows("operation_outputs")}
    steps = {name for kind, name in release2_names() if kind == "step"}
    assert recorded - steps == {"DBOS.sleep"}, "the snapshot names steps missing from the names file"


# --- the snapshot, loaded into a fresh database ----------------------------------------------------------------------


def reflected(engine: sa.Engine) -> dict[str, sa.Table]:
    """Every table by name, whichever schema holds it (DBOS keeps its own schema on PostgreSQL)."""
    meta = sa.MetaData()
    meta.reflect(engine)
    default = sa.inspect(engine).default_schema_name
    for schema in sa.inspect(engine).get_schema_names():
        if schema != default and schema != "information_schema" and not schema.startswith("pg_"):
            meta.reflect(engine, schema=schema)
    tables: dict[str, sa.Table] = {}
    for table in meta.sorted_tables:  # parents before children
        assert table.name not in tables, f"two tables named {table.name}"
        tables[table.name] = table
    return tables


def decoded(column: sa.Column[Any], value: Any) -> Any:
    """A snapshot value (JSON: datetimes as ISO text, bytes as base64) as this backend's column takes it."""
    if value is None:
        return None
    kind = column.type
    if isinstance(kind, sa.DateTime):
        return datetime.fromisoformat(value)
    if isinstance(kind, sa.Date):
        return date.fromisoformat(value)
    if isinstance(kind, sa.LargeBinary):
        return base64.b64decode(value)
    if isinstance(kind, sa.Boolean):
        return bool(value)
    return value


def advance_sequences(conn: sa.Connection, table: sa.Table) -> None:
    """PostgreSQL: rows loaded with their ids leave a serial column's sequence behind; the next insert would clash."""
    for column in table.primary_key.columns:
        qualified = f'"{table.schema}"."{table.name}"' if table.schema else f'"{table.name}"'
        sequence = conn.execute(sa.select(sa.func.pg_get_serial_sequence(qualified, column.name))).scalar()
        if sequence is not None:
            conn.execute(sa.select(sa.func.setval(sequence, sa.select(sa.func.max(column)).scalar_subquery())))


def load_snapshot(database_url: str) -> None:
    """The state release 2 stopped in: our schema at release 2's revision (the current code's start-up upgrades it
    from there), DBOS's system tables, and every row of both."""
    (revision,) = (row["version_num"] for row in snapshot_rows("alembic_version"))
    upgrade(database_url, revision)
    DBOS.migrate(plain_url(database_url))
    loaded = set(manifest()["rows"]) - MIGRATION_BOOKKEEPING
    engine = sa.create_engine(sqlalchemy_url(database_url))
    try:
        tables = reflected(engine)
        assert loaded <= set(tables), f"snapshot tables this schema lacks: {sorted(loaded - set(tables))}"
        with engine.begin() as conn:
            for name in reversed(tables):  # what the migrations seeded (e.g. the audit chain's head) is replaced
                if name in loaded:
                    conn.execute(tables[name].delete())
            for name, table in tables.items():
                rows = snapshot_rows(name) if name in loaded else []
                if rows:
                    conn.execute(table.insert(), [{k: decoded(table.c[k], v) for k, v in r.items()} for r in rows])
                    if conn.dialect.name == "postgresql":
                        advance_sequences(conn, table)
    finally:
        engine.dispose()


def in_flight() -> dict[str, Any]:
    """Release 2's workflow left PENDING: the one the current code must recover."""
    workflow_id = manifest()["in_flight"]["workflow_id"]
    (row,) = (r for r in snapshot_rows("workflow_status") if r["workflow_uuid"] == workflow_id)
    assert row["status"] == "PENDING"
    assert row["application_version"] == APPLICATION_VERSION, "DBOS recovers only its own application version"
    return row


def test_a_request_left_waiting_out_okta_by_release_2_reaches_its_approver_and_is_done(
    tmp_path: Path, database_url: str
) -> None:
    """Release 2 was killed while `submit_request` slept in `patiently`: its `_plan` step had recorded
    `workflows.durable.Unanswered` (Okta was silent). The current code, started as the same executor, resumes it
    (replaying the recorded steps by their release-2 names), Okta answers now, and the request goes on as usual."""
    flight = in_flight()
    request_id = manifest()["in_flight"]["request_id"]
    load_snapshot(database_url)
    stack = Stack.start(
        StackOptions(
            data_dir=tmp_path,
            database_url=database_url,
            manual_clock=True,
            fast_retries=True,
            executor_id=flight["executor_id"],  # DBOS recovers the PENDING work of its own executor id
        )
    )
    try:
        driver = stack.driver
        assert driver is not None
        stack.wait_idle()

        steps = DBOS.list_workflow_steps(flight["workflow_uuid"])
        assert DBOS.get_workflow_status(flight["workflow_uuid"]).status == "SUCCESS"  # type: ignore[union-attr]
        assert isinstance(steps[1]["output"], Unanswered), "the recorded plan was not replayed"
        assert steps[2]["function_name"] == "DBOS.sleep"
        assert request_status(stack, request_id) == "pending"
        assert f"REQ-{request_id} was submitted and waits for approval" in driver.dm_text("alice")

        card = driver.latest("oscar")  # netsuite-finance's owner
        assert card is not None and "Approve" in driver.labels(card), "the owner never got the card"
        assert "alice@example.com" not in stack.okta.members("netsuite-finance")
        driver.click("oscar", "Approve", message=card)
        stack.wait_idle()
        assert "alice@example.com" in stack.okta.members("netsuite-finance")
        assert "Done: alice@example.com is now in netsuite-finance" in driver.dm_text("alice")

        request_access(stack, "bob", "zoom-users", None, "Customer calls")  # new work lands beside the old
        assert "bob@example.com" in stack.okta.members("zoom-users")
        assert request_status(stack, request_id + 1) == "done"
    finally:
        stack.stop()
