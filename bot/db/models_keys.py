"""Tables of AWS access key rotation (SPEC §6.3): one row per rotation, and the daily key-age scan's state.

Never a secret here: key ids (identifiers, shown in the AWS console), the secret's name and ARN, times.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from bot.db.types import UTCDateTime, utcnow


class KeyRotation(SQLModel, table=True):
    """The rotation protocol of one key_rotation request, with its due times.

    status: preparing -> grace -> deactivating -> deactivated -> deleting -> done;
    reactivating -> rolled_back (Reactivate old key); failed. `done` also when there was no old key.
    """

    __tablename__ = "key_rotation"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="request.id", unique=True)
    iam_user: str = Field(index=True)
    service_user: bool = False
    status: str = Field(default="preparing", index=True)
    old_key_id: str | None = None  # the key being retired (at most one: two keys are refused)
    new_key_id: str | None = None
    secret_name: str = ""
    secret_arn: str | None = None
    new_key_created_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # AWS's clock
    # When a CreateAccessKey call was sent whose answer has not come (None once it has): a key AWS made then is
    # the bot's to remove; any other unknown key is a person's (workflows.keys.settle).
    create_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    rotated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    deactivate_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    deactivated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    delete_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    postponed: int = 0  # times deactivation waited because the old key was still in use
    postponed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # the last such check
    rolled_back_by: str | None = None
    # The notice DMs with the Reactivate old key button, updated in place: [{"channel", "ts", "slack_id"}]
    notices: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class KeyScanState(SQLModel, table=True):
    """One row: when the daily key-age scan runs next (claimed by compare-and-set: once, whatever the workers)."""

    __tablename__ = "key_scan_state"

    id: int = Field(default=1, primary_key=True)
    last_run_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_run_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
