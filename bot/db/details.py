"""What a request keeps in `Request.details` (a JSON column), as typed models instead of loose dict keys.

`RequestDetails` holds what the engine and the permission rules read of every kind; each kind subclasses it with its
own fields (`workflows/<wing>/...`). Read with `details_of(req, Model)`, change the model, write it back with
`store_details(req, model)`. Keys a model does not declare are ignored when read, so a row written by an older
release still loads; every key the code uses is a declared, typed field."""

from __future__ import annotations

from typing import ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from bot.db.models import Request, RequestStatus


class RequestDetails(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=True)
    # The kinds whose details this model is: only their own model may store them (a narrower one would drop keys).
    kinds: ClassVar[tuple[str, ...]] = ()

    step_specs: list[str] = []  # the approval steps, in order (policy words: manager, owners, role:x, an email)
    auto_approve: bool = False
    owners: list[str] = []  # who `owners` in a step means (an access group's owners, an IAM user's)
    subjects: list[str] = []  # whom the request is about, when not the requester (offboarding)
    subject_slack_id: str | None = None  # access asked on behalf of this Slack user
    # Why only the requester, the team's DRIs and admins may read it (empty: it is not confidential); release 2
    # stored the reasons (IT requests), so a list, not a flag.
    confidential: list[str] = []
    team: str | None = None  # the team it is routed to (its DRIs may read a confidential one)
    offboarded_by: int | None = None  # the offboarding request (its id) that ended this one

    def ended_by_offboarding(self, offboarding_id: int, status: RequestStatus) -> None:
        """An offboarding ended this request (`cancelled`, or `revoked` what it gave); a kind's model adds what
        that means for its own fields."""
        self.offboarded_by = offboarding_id


D = TypeVar("D", bound=RequestDetails)


def details_of(req: Request, model: type[D]) -> D:
    return model.model_validate(req.details or {})


def store_details(req: Request, details: RequestDetails) -> None:
    """Write `details` back as the request's whole details (assigning a new dict, so the ORM sees the change)."""
    if req.kind not in type(details).kinds:
        raise TypeError(f"{type(details).__name__} is not the details model of a {req.kind} request")
    req.details = details.model_dump(mode="json")
