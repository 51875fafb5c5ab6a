"""The migrations build exactly the tables the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import bot.db.tables  # noqa: F401
from bot.db.engine import sqlalchemy_url
from bot.db.migrate import upgrade


def test_models_and_migrations_agree(database_url: str) -> None:
    upgrade(database_url)
    upgrade(database_url)  # idempotent
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = [
                d
                for d in compare_metadata(ctx, SQLModel.metadata)
                if not (d[0] == "remove_table" and d[1].name.startswith(("dbos", "workflow", "operation")))
            ]
    finally:
        engine.dispose()
    assert diff == [], f"models changed without a migration: {diff[:5]}"
