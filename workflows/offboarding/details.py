"""What an offboarding request keeps in `Request.details` (the keys release 2 wrote, unchanged). The people are
the base model's `subjects`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar

from pydantic import BaseModel, PlainSerializer

from bot.db.details import RequestDetails

# Stored as `datetime.isoformat()` wrote it in release 2 (`+00:00`, where pydantic would write `Z`).
IsoTime = Annotated[datetime, PlainSerializer(datetime.isoformat, return_type=str, when_used="json")]


class RecordIssue(BaseModel):
    """The run's record: a confidential issue in the offboarding team's tracker."""

    project: str
    iid: int
    web_url: str


class Undo(BaseModel):
    by: str  # the IT admin's email
    at: IsoTime


class Transfer(BaseModel):
    """A Google Data Transfer of one person's Drive and Calendar."""

    id: str  # Google's transfer id
    to: str  # the handover person's email


class OffboardingDetails(RequestDetails):
    kinds: ClassVar[tuple[str, ...]] = ("offboarding",)

    reasons: dict[str, str] = {}  # a reason per person (email), from a bulk CSV
    source: str = ""  # where it was asked: "Slack", or the CSV file's name
    record: RecordIssue | None = None  # filed once the people's steps have run
    record_notes: list[int] = []  # the retry attempts whose outcomes were added to the record as a note
    undo: Undo | None = None
    transfers: dict[str, Transfer] = {}  # by person (email); the run follows each until Google says it ended
