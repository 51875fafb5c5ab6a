"""Engine and sessions. SQLite gets WAL and a busy timeout so readers never block the ack path."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from bot.db import write_gate


def sqlalchemy_url(database_url: str) -> str:
    """`postgresql://` means psycopg 3 here."""
    for prefix in ("postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix) :]
    return database_url


def plain_url(database_url: str) -> str:
    """The URL as DBOS wants it (no driver suffix)."""
    return database_url.replace("postgresql+psycopg://", "postgresql://")


def _sqlite_pragmas(busy_ms: int) -> Any:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, begin transactions (see _sqlite_begin).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={busy_ms}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return on_connect


def _sqlite_begin(wait: float) -> Any:
    def begin(conn: Any) -> None:
        # Take the write lock up front: a deferred transaction that reads and then writes fails at
        # once with "database is locked" when another writer got in between, instead of waiting.
        # This process's writers queue for it in order first (write_gate), within the same `wait`:
        # the ack path must still give up inside Slack's 3 s when the file is locked from outside.
        waited = write_gate.take_turn(conn, wait)
        try:
            conn.exec_driver_sql(f"PRAGMA busy_timeout={max(50, int((wait - waited) * 1000))}")
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            write_gate.end_turn(conn)
            raise

    return begin


def take_turns(session: Session, name: str) -> None:
    """Make writers of `name` wait for each other until this transaction ends, for read-then-write caches that
    several workers refresh (two sweeps at once). SQLite transactions already take turns (BEGIN IMMEDIATE); on
    PostgreSQL a second writer would read before the first commits and then hit its unique keys. Call first."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})


class Database:
    """`wait` bounds how long a statement waits for a lock, a connection or an answer (seconds; default: 10 s
    of SQLite busy timeout, PostgreSQL's own settings). The ack path uses a short one, so a database that is
    down or locked gets a quick "try again" instead of an ack that comes after Slack gave up (3 s) — and a
    write that then lands anyway."""

    def __init__(self, database_url: str, *, wait: float | None = None) -> None:
        self.url = sqlalchemy_url(database_url)
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        busy_ms = int((wait or 10.0) * 1000)
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": busy_ms / 1000}
        else:
            kwargs.update(pool_size=10, max_overflow=20)
            if wait is not None:
                kwargs["pool_timeout"] = wait
                kwargs["connect_args"] = {
                    "connect_timeout": max(1, round(wait)),  # libpq takes whole seconds
                    "options": f"-c lock_timeout={busy_ms} -c statement_timeout={busy_ms}",
                }
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            write_gate.install(turn_at_begin=self.engine)
            event.listen(self.engine, "connect", _sqlite_pragmas(busy_ms))
            event.listen(self.engine, "begin", _sqlite_begin(busy_ms / 1000))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on error."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
