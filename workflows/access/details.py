"""What an access request keeps in `Request.details` (the keys release 2 wrote, unchanged)."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from bot.db.details import RequestDetails
from bot.db.models import RequestStatus


class AccessDetails(RequestDetails):
    kinds: ClassVar[tuple[str, ...]] = ("access",)

    group: str  # the Okta group
    duration_seconds: int | None = None  # None: the membership stays until revoked
    duration_label: str = "until revoked"  # the duration as the requester wrote it, for the card
    grant_active: bool = False  # the grant was made and has not ended (the card offers Revoke now)
    okta_user_id: str | None = None  # the account added (its grant removes this one, whatever the email names later)
    extended_request_id: int | None = None  # approved for a group held already: the request whose grant it extended

    @property
    def duration(self) -> timedelta | None:
        return timedelta(seconds=self.duration_seconds) if self.duration_seconds else None

    def ended_by_offboarding(self, offboarding_id: int, status: RequestStatus) -> None:
        super().ended_by_offboarding(offboarding_id, status)
        if status == RequestStatus.REVOKED:
            self.grant_active = False
