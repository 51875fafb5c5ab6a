"""Fixtures: a fresh database per test (SQLite, or PostgreSQL with ENGOPS_TEST_DB=postgresql), empty or at the newest
schema, and the whole stack — stand-ins, the bot over HTTP with its durable worker, and a driver that acts as Slack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.db.engine import Database
from engops.sandbox.stack import Stack
from tests.support.databases import fresh_database, migrated_database
from tests.support.stacks import started_stack


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    with fresh_database(tmp_path) as url:
        yield url


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with migrated_database(tmp_path) as url:
        database = Database(url)
        try:
            yield database
        finally:
            database.dispose()


@pytest.fixture
def stack(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    with started_stack(tmp_path, database_url) as running:
        yield running
