"""What differs between kinds of automated request (access, offboarding, key rotation).

The approval engine is generic; each kind registers how to plan (the dry run shown on the
card, resolved before any approver sees it) and how to execute once approved.
"""

from __future__ import annotations

from typing import Protocol

from bot.db.details import RequestDetails
from bot.db.models import Request


class PlanError(Exception):
    """The request cannot be carried out as asked (shown to the requester)."""


class RequestKind(Protocol):
    name: str

    @property
    def details_model(self) -> type[RequestDetails]:
        """What its requests keep in `Request.details`."""
        ...

    def plan(self, req: Request) -> list[str]:
        """Lines saying exactly what will change. Runs in a workflow (provider lookups allowed)."""
        ...

    def execute_workflow(self) -> str:
        """The durable workflow name that carries out an approved request: fn(request_id, attempt)."""
        ...

    def requester_actions(self, req: Request) -> list[str]:
        """Extra buttons on the requester's and channel's copies (e.g. Revoke now)."""
        ...

    def card_fields(self, req: Request) -> list[tuple[str, str]]:
        """Lines of the kind's own on the card, (label, plain text), after the requester and the status (access: For
        how long)."""
        ...


KINDS: dict[str, RequestKind] = {}


def register_kind(kind: RequestKind) -> None:
    KINDS[kind.name] = kind


def kind_of(req: Request) -> RequestKind:
    return KINDS[req.kind]


def card_fields(req: Request) -> list[tuple[str, str]]:
    return kind_of(req).card_fields(req)
