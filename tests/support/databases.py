"""Fresh databases for tests: SQLite files by default, PostgreSQL when ENGOPS_TEST_DB=postgresql; empty, or at the
newest schema."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

PG_ADMIN = os.environ.get("ENGOPS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def backend() -> str:
    return os.environ.get("ENGOPS_TEST_DB", "sqlite")


@contextmanager
def fresh_database(tmp_dir: Path) -> Iterator[str]:
    """Yield a URL to an empty database; dropped afterwards."""
    if backend() != "postgresql":
        yield f"sqlite:///{tmp_dir / f'engops-{uuid.uuid4().hex[:8]}.db'}"
        return
    name = f"engops_t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def migrated_database(tmp_dir: Path) -> Iterator[str]:
    """Yield a URL to a database at the newest schema, as `engops db upgrade` leaves it; dropped afterwards.

    On SQLite each one is a copy of a file migrated once per test run: migrating takes seconds, a copy none."""
    from bot.db.migrate import upgrade

    if backend() != "postgresql":
        copy = tmp_dir / f"engops-{uuid.uuid4().hex[:8]}.db"
        shutil.copyfile(_migrated_sqlite_file(), copy)
        yield f"sqlite:///{copy}"
        return
    with fresh_database(tmp_dir) as url:
        upgrade(url)
        yield url


@functools.cache
def _migrated_sqlite_file() -> Path:
    from bot.db.migrate import upgrade

    folder = tempfile.mkdtemp(prefix="engops-schema-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = Path(folder) / "schema.db"
    upgrade(f"sqlite:///{path}")
    return path
