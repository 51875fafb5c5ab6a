"""What a key rotation request keeps in `Request.details` (the keys release 2 wrote, unchanged). A service user's
owners are the base model's `owners`; the rotation itself is its own table (`KeyRotation`)."""

from __future__ import annotations

from typing import ClassVar

from bot.db.details import RequestDetails

KIND = "key_rotation"


class KeyRotationDetails(RequestDetails):
    kinds: ClassVar[tuple[str, ...]] = (KIND,)

    iam_user: str  # whose keys
    service_user: bool = False  # a service user (aws_keys.service_users): its owners approve and are told
    new_key_id: str | None = None  # once the new key is in Secrets Manager
    secret_name: str | None = None  # the secret that holds it
