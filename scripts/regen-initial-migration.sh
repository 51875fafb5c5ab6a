#!/usr/bin/env bash
# Rewrites migration 0001 from the models. Only while nothing has been released: once a database
# exists in production, add a new revision instead (alembic revision --autogenerate).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
rm -f bot/db/migrations/versions/0001_initial_tables.py
.venv/bin/python - "$tmp" <<'PY'
import re
import sys

from alembic import command

from bot.db.migrate import alembic_config

command.revision(alembic_config(f"sqlite:///{sys.argv[1]}/gen.db"), message="initial tables",
                 autogenerate=True, rev_id="0001")
p = "bot/db/migrations/versions/0001_initial_tables.py"
s = open(p).read()
i = s.index("def downgrade")
end = s.rindex("    # ### end Alembic commands ###", 0, i)
s = s[:end] + '''    op.bulk_insert(sa.table("audit_head", sa.column("id", sa.Integer), sa.column("seq", sa.Integer),
                            sa.column("hash", sa.String)), [{"id": 1, "seq": 0, "hash": "0" * 64}])
''' + s[end:]
s = re.sub(r"Create Date: .*", "Create Date: 2026-11-27", s)
open(p, "w").write(s)
PY
.venv/bin/ruff format -q bot/db/migrations/versions/0001_initial_tables.py
.venv/bin/ruff check -q --fix bot/db/migrations/versions/0001_initial_tables.py || true
rm -rf "$tmp"
echo "regenerated bot/db/migrations/versions/0001_initial_tables.py"
