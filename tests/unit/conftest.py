"""Fixtures for unit tests of the workflow engine: the runtime over a database at the newest schema (`db`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.db.engine import Database
from tests.support.runtime import installed_runtime
from workflows.engine.runtime import Runtime


@pytest.fixture
def rt(db: Database) -> Iterator[Runtime]:
    with installed_runtime(db) as installed:
        yield installed
