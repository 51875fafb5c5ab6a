"""Fresh databases for tests: SQLite files by default, PostgreSQL when ENGOPS_TEST_DB=postgresql."""

from __future__ import annotations

import os
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
