"""Looking for a secret wherever it could hide: in plain text, in base64 (as DBOS stores pickled step outputs),
in every row of every table."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator

from sqlalchemy import MetaData, inspect, select

from engops.sandbox.stack import Stack

_BASE64 = re.compile(r"[A-Za-z0-9+/=_-]{24,}")


def _decoded(text: str) -> Iterator[bytes]:
    """Base64 runs in a text, decoded (DBOS stores pickled step outputs as base64)."""
    for run in _BASE64.findall(text):
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                yield decode(run + "=" * (-len(run) % 4))
            except (binascii.Error, ValueError):
                continue


def found_in(text: str, secret: str) -> bool:
    return secret in text or any(secret.encode() in blob for blob in _decoded(text))


def database_dump(stack: Stack) -> str:
    """Every row of every table in every schema of the database (ours and DBOS's system tables)."""
    assert stack.web is not None
    engine = stack.web.services.db.engine
    schemas = [s for s in inspect(engine).get_schema_names() if s not in ("information_schema", "pg_catalog")]
    cells: list[str] = []
    with engine.connect() as conn:
        for schema in schemas:
            metadata = MetaData(schema=None if schema in ("main", "public") else schema)
            metadata.reflect(conn)
            for table in metadata.sorted_tables:
                for row in conn.execute(select(table)):
                    cells += [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in row]
    return "\n".join(cells)
