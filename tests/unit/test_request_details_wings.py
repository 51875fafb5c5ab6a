"""The keys and tickets wings' details models read what release 2 stored in `Request.details` and write it back
unchanged: the same keys with the same values and shapes. Keys a model adds are at defaults release 2 reads as
absent (it read them with `.get`, as falsy), except the two it tells by their presence alone, which stay absent."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.db.details import RequestDetails, details_of, store_details
from bot.db.models import Request, RequestStatus
from workflows.engine.kinds import KINDS
from workflows.keys.details import KeyRotationDetails
from workflows.tickets.details import IssueRef, Offer, SlackThread, TicketDetails, TranscriptMessage

# As release 2's code wrote them (commit 0a2a0ee: commands/rotate_keys.py, workflows/key_rotation.py,
# workflows/filing.py), at the end of each path through it.
OWN_KEYS_ROTATED = {
    "iam_user": "alice",
    "service_user": False,
    "owners": [],
    "step_specs": [],
    "auto_approve": True,
    "new_key_id": "AKIAEXAMPLENEWKEY002",
    "secret_name": "engops/iam/alice",
}
SERVICE_USER_PENDING = {
    "iam_user": "svc-deploy",
    "service_user": True,
    "owners": ["oscar@example.com", "paul@example.com"],
    "step_specs": ["owners"],
    "auto_approve": False,
}
ISSUE = {
    "project": "infra/helpdesk",
    "iid": 17,
    "web_url": "https://gitlab.example.com/infra/helpdesk/-/issues/17",
    "title": "VPN drops every hour (REQ-9)",
    "ref": "infra/helpdesk#17",
}
ESCALATION_FILED = {
    "team": "infra",
    "team_how": "keywords",
    "team_matched": ["vpn"],
    "urgency": "urgent",
    "reference": "https://status.example.com/incidents/4",
    "origin": {"channel": "C0000INFRA", "name": "infra", "message_ts": "1765120000.000100", "thread_ts": None},
    "confidential": ["mentions credentials"],
    "requester_name": "Alice Example",
    "thread": {"channel": "C0000INFRA", "ts": "1765120000.000100"},
    "permalink": "https://engops-sandbox.slack.com/archives/C0000INFRA/p1765120000000100",
    "transcript": [
        {"name": "Alice Example", "at": "2026-12-07 15:06 UTC", "text": "VPN drops every hour, password is hunter2"},
        {"name": "", "at": "", "text": "(the rest of the thread is left out: too long)"},
    ],
    "create_started": True,
    "issue": ISSUE,
    "dris_missing": ["dana@example.com"],
    "announced": True,
}
IT_REQUEST_ADDED_TO_EXISTING = {
    "team": "workplace",
    "team_how": "chosen",
    "team_matched": [],
    "urgency": "normal",
    "reference": "",
    "origin": {"channel": "C0000GENRL", "name": "general", "message_ts": None, "thread_ts": None},
    "confidential": [],
    "requester_name": "Alice Example",
    "thread": {"channel": "C0000GENRL", "ts": "1765120100.000200", "ours": "yes"},
    "permalink": "https://engops-sandbox.slack.com/archives/C0000GENRL/p1765120100000200",
    "duplicate": {**ISSUE, "request_id": 9},
    "offer": {"channel": "D0000ALICE", "ts": "1765120200.000300", "closed": True},
    "skip_duplicate_check": False,
    "chosen": "add",
    "issue": ISSUE,
    "announced": True,
}
IT_REQUEST_FROM_A_DM_FAILED = {
    "team": "workplace",
    "team_how": "default",
    "team_matched": [],
    "urgency": "low",
    "reference": "",
    "origin": {"channel": "D0000ALICE", "name": "directmessage", "message_ts": None, "thread_ts": None},
    "confidential": [],
    "requester_name": "Alice Example",
    "thread": None,  # decided: no thread, the updates go by DM
    "permalink": None,
    "create_started": True,
}
ESCALATION_UNREADABLE_THREAD = {
    **ESCALATION_FILED,
    "transcript": [],
    "transcript_error": "not_in_channel",
    "offer": {"channel": "D0000ALICE", "ts": "1765120200.000300"},
    "skip_duplicate_check": True,
    "chosen": "new",
}


def _request(kind: str, details: dict[str, Any]) -> Request:
    return Request(
        kind=kind,
        status=RequestStatus.FILED,
        requester_email="alice@example.com",
        requester_slack_id="U00000003",
        summary="s",
        details=json.loads(json.dumps(details)),
    )


CASES = [
    pytest.param("key_rotation", KeyRotationDetails, OWN_KEYS_ROTATED, id="own keys, rotated"),
    pytest.param("key_rotation", KeyRotationDetails, SERVICE_USER_PENDING, id="a service user's, waiting"),
    pytest.param("escalation", TicketDetails, ESCALATION_FILED, id="escalation filed"),
    pytest.param("escalation", TicketDetails, ESCALATION_UNREADABLE_THREAD, id="escalation, thread unreadable"),
    pytest.param("it_request", TicketDetails, IT_REQUEST_ADDED_TO_EXISTING, id="it request added to an issue"),
    pytest.param("it_request", TicketDetails, IT_REQUEST_FROM_A_DM_FAILED, id="it request from a DM, failed"),
]


@pytest.mark.parametrize(("kind", "model", "stored"), CASES)
def test_release2_details_load_and_survive_a_round_trip(
    kind: str, model: type[RequestDetails], stored: dict[str, Any]
) -> None:
    req = _request(kind, stored)
    loaded = details_of(req, model)
    store_details(req, loaded)
    assert {k: req.details[k] for k in stored} == stored  # the same keys, the same values (and shapes)
    added = {k: v for k, v in req.details.items() if k not in stored}
    assert not any(added.values()), added  # read by release 2 as absent
    assert details_of(req, model) == loaded
    assert json.loads(json.dumps(req.details)) == req.details  # plain JSON for the column


def test_the_typed_fields_read_what_release2_meant() -> None:
    rotation = details_of(_request("key_rotation", SERVICE_USER_PENDING), KeyRotationDetails)
    assert (rotation.iam_user, rotation.service_user, rotation.new_key_id) == ("svc-deploy", True, None)
    assert rotation.owners == ["oscar@example.com", "paul@example.com"]
    filed = details_of(_request("escalation", ESCALATION_FILED), TicketDetails)
    assert filed.thread == SlackThread(channel="C0000INFRA", ts="1765120000.000100")
    assert filed.transcript is not None and filed.transcript[1] == TranscriptMessage(
        name="", at="", text="(the rest of the thread is left out: too long)"
    )
    assert filed.issue == IssueRef.model_validate(ISSUE) and filed.chosen is None
    added = details_of(_request("it_request", IT_REQUEST_ADDED_TO_EXISTING), TicketDetails)
    assert added.thread is not None and added.thread.ours == "yes"
    assert added.offer == Offer(channel="D0000ALICE", ts="1765120200.000300", closed=True)
    assert added.duplicate is not None and added.duplicate.request_id == 9


def test_thread_and_transcript_stay_absent_until_decided() -> None:
    """Release 2 tells by their presence that a filing step ran (a retry must not post a second thread)."""
    new = _request("it_request", {})
    store_details(new, TicketDetails(team="workplace"))
    assert "thread" not in new.details and "transcript" not in new.details
    assert not details_of(new, TicketDetails).thread_decided
    from_a_dm = details_of(_request("it_request", IT_REQUEST_FROM_A_DM_FAILED), TicketDetails)
    assert from_a_dm.thread_decided and from_a_dm.thread is None
    from_a_dm.requester_name = "Alice"
    request = _request("it_request", {})
    store_details(request, from_a_dm)
    assert request.details["thread"] is None and "transcript" not in request.details
    decided = details_of(new, TicketDetails)
    decided.thread = None
    store_details(new, decided)
    assert "thread" in new.details and details_of(new, TicketDetails).thread_decided


def test_store_details_refuses_another_kinds_model() -> None:
    rotation = _request("key_rotation", OWN_KEYS_ROTATED)
    escalation = _request("escalation", ESCALATION_FILED)
    with pytest.raises(TypeError, match="TicketDetails is not the details model of a key_rotation request"):
        store_details(rotation, details_of(escalation, TicketDetails))
    with pytest.raises(TypeError, match="KeyRotationDetails is not the details model of a escalation request"):
        store_details(escalation, details_of(rotation, KeyRotationDetails))
    with pytest.raises(TypeError):  # the base model would drop the kind's own keys
        store_details(escalation, details_of(escalation, RequestDetails))
    assert (rotation.details, escalation.details) == (OWN_KEYS_ROTATED, ESCALATION_FILED)


def test_each_kind_names_its_own_model() -> None:
    import workflows.registry  # noqa: F401  (registers every kind)

    assert KINDS["key_rotation"].details_model is KeyRotationDetails
    assert KINDS["it_request"].details_model is KINDS["escalation"].details_model is TicketDetails
