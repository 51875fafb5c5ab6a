"""when a key creation was sent unanswered; the Okta account a grant added

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 20:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import bot.db.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("key_rotation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("create_started_at", bot.db.types.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("grant", schema=None) as batch_op:
        batch_op.add_column(sa.Column("okta_user_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("grant", schema=None) as batch_op:
        batch_op.drop_column("okta_user_id")
    with op.batch_alter_table("key_rotation", schema=None) as batch_op:
        batch_op.drop_column("create_started_at")
