"""relayed GitLab notes: which Slack message shows which comment, so an edit updates it

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 19:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import bot.db.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "relayed_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tracked_issue_id", sa.Integer(), nullable=False),
        sa.Column("note_id", sa.Integer(), nullable=False),
        sa.Column("version", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("channel_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("ts", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tracked_issue_id"],
            ["tracked_issue.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tracked_issue_id", "note_id"),
    )
    with op.batch_alter_table("relayed_note", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_relayed_note_tracked_issue_id"), ["tracked_issue_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("relayed_note", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_relayed_note_tracked_issue_id"))

    op.drop_table("relayed_note")
