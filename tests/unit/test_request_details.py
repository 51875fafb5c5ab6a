"""Each kind's details model reads what release 2 stored in `Request.details`, and writes it back unchanged: the same
keys with the same values (a model adds its other fields at their defaults, which release 2 reads as absent)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot import permissions
from bot.db.details import RequestDetails, details_of, store_details
from bot.db.models import Request, RequestStatus
from workflows.access.details import AccessDetails
from workflows.engine.kinds import KINDS
from workflows.offboarding.details import OffboardingDetails, RecordIssue, Transfer

RELEASE2 = Path(__file__).resolve().parents[1] / "data" / "release2" / "tables" / "request.jsonl"


def _release2_access() -> dict[str, Any]:
    """The access request release 2 stored (tests/data/release2: taken from a running release 2)."""
    row = json.loads(RELEASE2.read_text().splitlines()[0])
    assert row["kind"] == "access"
    return dict(row["details"])


# As release 2's code wrote them (commit 0a2a0ee): a granted access request later revoked by an offboarding, a bulk
# offboarding that was filed, retried, undone and transferred Drive data, and an IT request (not modelled here).
GRANTED_THEN_OFFBOARDED = {
    "group": "zoom-users",
    "owners": ["oscar@example.com"],
    "duration_seconds": 28800,
    "duration_label": "8h",
    "subject_slack_id": "U00000007",
    "step_specs": ["manager", "owners"],
    "auto_approve": False,
    "grant_active": False,
    "offboarded_by": 12,
}
OFFBOARDING = {
    "subjects": ["bob@example.com", "carol@example.com"],
    "reasons": {"bob@example.com": "left the company"},
    "source": "people.csv",
    "step_specs": ["role:it-admins"],
    "auto_approve": False,
    "record": {
        "project": "it/offboarding",
        "iid": 41,
        "web_url": "https://gitlab.example.com/it/offboarding/-/issues/41",
    },
    "record_notes": [2],
    "undo": {"by": "heidi@example.com", "at": "2026-12-07T16:06:56.441582+00:00"},
    "transfers": {"bob@example.com": {"id": "tr-1", "to": "mona@example.com"}},
}
IT_REQUEST = {
    "team": "infra",
    "team_how": "chosen",
    "team_matched": [],
    "urgency": "normal",
    "reference": "",
    "origin": {},
    "confidential": ["mentions credentials"],
}


def _request(kind: str, details: dict[str, Any]) -> Request:
    return Request(
        kind=kind,
        status=RequestStatus.DONE,
        requester_email="alice@example.com",
        requester_slack_id="U00000003",
        summary="s",
        details=details,
    )


CASES = [
    pytest.param("access", AccessDetails, _release2_access(), id="access as release 2 submitted it"),
    pytest.param("access", AccessDetails, GRANTED_THEN_OFFBOARDED, id="access revoked by an offboarding"),
    pytest.param("offboarding", OffboardingDetails, OFFBOARDING, id="offboarding"),
]


@pytest.mark.parametrize(("kind", "model", "stored"), CASES)
def test_release2_details_load_and_survive_a_round_trip(
    kind: str, model: type[RequestDetails], stored: dict[str, Any]
) -> None:
    req = _request(kind, json.loads(json.dumps(stored)))
    loaded = details_of(req, model)
    store_details(req, loaded)
    assert {k: req.details[k] for k in stored} == stored  # the same keys, the same values (and shapes)
    assert details_of(req, model) == loaded
    assert json.loads(json.dumps(req.details)) == req.details  # plain JSON for the column


def test_the_typed_fields_read_what_release2_meant() -> None:
    offboarding = details_of(_request("offboarding", OFFBOARDING), OffboardingDetails)
    assert offboarding.record == RecordIssue(
        project="it/offboarding", iid=41, web_url="https://gitlab.example.com/it/offboarding/-/issues/41"
    )
    assert offboarding.transfers == {"bob@example.com": Transfer(id="tr-1", to="mona@example.com")}
    assert offboarding.undo is not None and offboarding.undo.at.utcoffset() is not None
    access = details_of(_request("access", _release2_access()), AccessDetails)
    assert (access.group, access.duration, access.duration_label) == ("netsuite-finance", None, "until revoked")


def test_an_offboarding_ends_an_access_grant_in_the_access_model() -> None:
    details = AccessDetails(group="zoom-users", grant_active=True)
    details.ended_by_offboarding(7, RequestStatus.REVOKED)
    assert (details.offboarded_by, details.grant_active) == (7, False)
    pending = AccessDetails(group="zoom-users")
    pending.ended_by_offboarding(7, RequestStatus.CANCELLED)
    assert pending.offboarded_by == 7


def test_store_details_refuses_another_kinds_model() -> None:
    offboarding = _request("offboarding", OFFBOARDING)
    with pytest.raises(TypeError, match="AccessDetails is not the details model of a offboarding request"):
        store_details(offboarding, AccessDetails(group="zoom-users"))
    with pytest.raises(TypeError):
        store_details(_request("access", _release2_access()), OffboardingDetails())
    with pytest.raises(TypeError):  # the base model would drop the kind's own keys
        store_details(offboarding, details_of(offboarding, RequestDetails))
    assert offboarding.details == OFFBOARDING


def test_each_kind_names_its_own_model() -> None:
    import workflows.registry  # noqa: F401  (registers every kind)

    assert KINDS["access"].details_model is AccessDetails
    assert KINDS["offboarding"].details_model is OffboardingDetails


def test_the_base_model_reads_every_kind_as_permissions_need_it() -> None:
    """An IT request's confidential is release 2's list of reasons; its team's DRIs may read it."""
    it_request = _request("it_request", IT_REQUEST)
    base = details_of(it_request, RequestDetails)
    assert (base.confidential, base.team) == (["mentions credentials"], "infra")
    assert permissions.request_facts(it_request, []).confidential
    offboarding = permissions.request_facts(_request("offboarding", OFFBOARDING), [])
    assert offboarding.subjects == {"bob@example.com", "carol@example.com"}
    assert not offboarding.confidential
