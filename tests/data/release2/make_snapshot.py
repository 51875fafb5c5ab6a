"""Makes the release-2 snapshot beside this file: work left in flight by release 2, for the upgrade test
(tests/integration/test_upgrade_from_release2.py).

Run it with release 2's code (commit 0a2a0ee), never with the current tree:

    git clone -q /work/main /tmp/release2 && git -C /tmp/release2 checkout -q 0a2a0ee
    cd /work/main && PYTHONPATH=/tmp/release2 .venv/bin/python tests/data/release2/make_snapshot.py

What it records: release 2's sandbox stack on a SQLite file, under executor id `release2-snapshot`. The start-up
sweep runs, then alice asks for netsuite-finance while Okta answers nothing about her, so `submit_request`'s `_plan`
step records `Unanswered` (a pickled `workflows.durable.Unanswered`) and the workflow sleeps in `patiently` for
PAUSE seconds. The process running the stack is then killed (SIGKILL), leaving that workflow PENDING, and every
table of the database (the bot's and DBOS's) is written to `tables/<table>.jsonl`, one JSON object per row:
datetimes as ISO strings in UTC, bytes as base64. `snapshot.json` says what is in flight.

The recorded sleep ends PAUSE seconds after the snapshot, so the test resumes it at once from then on."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
EXECUTOR_ID = "release2-snapshot"
PAUSE = 30.0  # long enough that the workflow is surely asleep when it is killed
REQUESTER, GROUP, REASON = "alice", "netsuite-finance", "Quarter close"
ALICE_IN_OKTA = "/api/v1/users/alice"
ASLEEP = "ASLEEP"


def run_release2_until_asleep(data_dir: Path, database_url: str) -> None:
    """In the child: release 2's stack, until submit_request sleeps after an unanswered plan; then wait to be killed."""
    try:
        from bot.sandbox.base import Fault  # release 2's modules (the current tree has engops/sandbox/)
        from bot.sandbox.stack import Stack, StackOptions
        from workflows.runtime import Patience
    except ImportError as exc:
        raise SystemExit(f"run with PYTHONPATH=<a checkout of 0a2a0ee> ({exc})") from exc
    from dbos import DBOS

    class Release2Stack(Stack):
        @property
        def patience(self) -> Patience:
            return Patience((PAUSE,))

    options = StackOptions(
        data_dir=data_dir, database_url=database_url, manual_clock=True, fast_retries=True, executor_id=EXECUTOR_ID
    )
    stack = Release2Stack.start(options)
    assert stack.driver is not None
    stack.wait_idle()
    stack.okta.inject(Fault(status=503, path_prefix=ALICE_IN_OKTA, method="GET", remaining=None))
    stack.driver.command(REQUESTER, "/access", "")
    resp = stack.driver.submit_view(REQUESTER, {"Okta group": GROUP, "Justification": REASON})
    assert resp.status == 200, resp.text

    def asleep() -> str | None:
        for wf in DBOS.list_workflows(name="submit_request", load_input=False, load_output=False):
            steps = DBOS.list_workflow_steps(wf.workflow_id)
            if any(s["function_name"] == "DBOS.sleep" for s in steps):
                return wf.workflow_id
        return None

    workflow_id = stack.wait_for(asleep, timeout=60.0, what="submit_request asleep in patiently")
    print(ASLEEP, workflow_id, flush=True)
    time.sleep(3600)


def encoded(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, Decimal):
        return str(value)
    return value


def dump(database_url: str, out: Path) -> dict[str, int]:
    """Every table's rows, ordered by primary key, one JSON line each; the row count per table."""
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    meta = sa.MetaData()
    meta.reflect(engine)
    counts: dict[str, int] = {}
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            rows = conn.execute(sa.select(table).order_by(*order)).mappings().all()
            counts[table.name] = len(rows)
            if rows:
                lines = (json.dumps({k: encoded(v) for k, v in row.items()}, sort_keys=True) for row in rows)
                (out / f"{table.name}.jsonl").write_text("\n".join(lines) + "\n")
    engine.dispose()
    return counts


def make_snapshot() -> None:
    work = Path(tempfile.mkdtemp(prefix="release2-snapshot-"))
    database_url = f"sqlite:///{work / 'engops.db'}"
    child = subprocess.Popen(
        [sys.executable, __file__, "--child", str(work), database_url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        line = next((line for line in child.stdout if line.startswith(ASLEEP)), "")
        if not line:
            raise SystemExit(f"release 2's stack stopped before the workflow slept (exit {child.wait()})")
        workflow_id = line.split()[1]
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        child.kill()  # SIGKILL, a crash: DBOS leaves the workflow PENDING
        child.wait()
    tables = HERE / "tables"
    shutil.rmtree(tables, ignore_errors=True)
    tables.mkdir()
    counts = dump(database_url, tables)
    manifest = {
        "commit": "0a2a0ee",
        "executor_id": EXECUTOR_ID,
        "application_version": "engops-1",
        "in_flight": {"workflow": "submit_request", "workflow_id": workflow_id, "request_id": 1},
        "requester": REQUESTER,
        "group": GROUP,
        "pause_seconds": PAUSE,
        "rows": counts,
    }
    (HERE / "snapshot.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    print(f"release-2 snapshot written to {HERE}: {sum(counts.values())} rows, {workflow_id} in flight")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        run_release2_until_asleep(Path(sys.argv[2]), sys.argv[3])
    else:
        make_snapshot()
