"""Fixtures: a fresh database per test (SQLite, or PostgreSQL with ENGOPS_TEST_DB=postgresql) and the
whole stack — stand-ins, the bot over HTTP with its durable worker, and a driver that acts as Slack."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from engops.sandbox.stack import Stack, StackOptions
from tests.support.databases import fresh_database


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    with fresh_database(tmp_path) as url:
        yield url


@contextmanager
def started_stack(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    """The stack the scenario tests use: a manual clock and short provider back-off."""
    running = Stack.start(
        StackOptions(data_dir=tmp_path, database_url=database_url, manual_clock=True, fast_retries=True)
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def stack(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    with started_stack(tmp_path, database_url) as running:
        yield running
