"""What a request keeps in `Request.details` (a JSON column), as typed models instead of loose dict keys.

`RequestDetails` holds what the engine and the permission rules read of every kind; each kind subclasses it with its
own fields (`workflows/<wing>/...`). Read with `details_of(req, Model)`, change the model, write it back with
`store_details(req, model)`. Keys a model does not declare are ignored when read, so a row written by an older
release still loads; every key the code uses is a declared, typed field."""

from __future__ import annotations

from typing import ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from bot.db.models import Request


class RequestDetails(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=True)
    # The kinds whose details this model is: only their own model may store them (a narrower one would drop keys).
    kinds: ClassVar[tuple[str, ...]] = ()

    step_specs: list[str] = []  # the approval steps, in order (policy words: manager, owners, role:x, an email)
    auto_approve: bool = False
    owners: list[str] = []  # who `owners` in a step means (an access group's owners, an IAM user's)
    subjects: list[str] = []  # whom the request is about, when not the requester (offboarding)
    subject_slack_id: str | None = None  # access asked on behalf of this Slack user
    confidential: bool = False  # only the requester, the team and admins may read it


D = TypeVar("D", bound=RequestDetails)


def details_of(req: Request, model: type[D]) -> D:
    return model.model_validate(req.details or {})


def store_details(req: Request, details: RequestDetails) -> None:
    """Write `details` back as the request's whole details (assigning a new dict, so the ORM sees the change)."""
    if req.kind not in type(details).kinds:
        raise TypeError(f"{type(details).__name__} is not the details model of a {req.kind} request")
    req.details = details.model_dump(mode="json")
