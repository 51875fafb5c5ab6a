"""`/it`, the "File an IT request" shortcut, the request modal, and the duplicate-offer buttons."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.db.models import Request
from bot.slack import modals, triage_views
from commands.deps import Deps
from commands.interaction import channel_of, metadata, open_modal, reply_id, request_id_from
from workflows.engine.replies import reply_later
from workflows.tickets import triage
from workflows.tickets.duplicates import answer_duplicate_offer
from workflows.tickets.filing_form import (
    FilingForm,
    asked_from,
    asked_metadata,
    check_form,
    check_pick,
    clean,
    in_a_channel,
    offered_teams,
    open_filing,
    prefill_from_text,
    should_ask,
    triage_form,
)


def register(app: App, deps: Deps) -> None:
    @app.command("/it")
    def it(ack: Ack, command: dict[str, Any]) -> None:
        ack()
        meta = {"channel_id": command.get("channel_id"), "channel_name": command.get("channel_name")}
        view = request_modal(deps, "it_request", command.get("text") or "", meta)
        open_modal(deps, view, trigger_id=command["trigger_id"], user=command["user_id"], channel=meta["channel_id"])

    @app.shortcut("file_it_request")
    def shortcut(ack: Ack, shortcut: dict[str, Any]) -> None:
        ack()
        view = request_modal(deps, "it_request", "", {})
        open_modal(deps, view, trigger_id=shortcut["trigger_id"], user=shortcut["user"]["id"], channel=None)

    @app.view(triage_views.IT_CALLBACK)
    def submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        submit(deps, ack, body, view, "it_request")

    @app.view(triage_views.IT_TEAM_CALLBACK)
    def team_picked(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        submit_pick(deps, ack, body, view, "it_request")

    def choose(body: dict[str, Any], action: dict[str, Any], *, add: bool) -> None:
        """The requester's choice on the duplicate offer; only a refusal is answered (later, by reply)."""
        request_id = request_id_from(action)
        if request_id is None:
            return
        clicker = body["user"]["id"]
        outcome = answer_duplicate_offer(deps.db, deps.dispatcher, request_id, clicker, add=add, now=deps.clock.now())
        if not outcome.ok:
            reply_later(deps.dispatcher, reply_id(body), clicker, channel_of(body), outcome.message)

    @app.action(triage_views.ADD_TO_EXISTING)
    def add_to_existing(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        choose(body, action, add=True)

    @app.action(triage_views.FILE_ANYWAY)
    def file_anyway(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        choose(body, action, add=False)


def request_modal(
    deps: Deps, kind: str, text: str, meta: dict[str, Any], *, reference: str = "", source: str = ""
) -> dict[str, Any]:
    """The IT-request (or escalation) modal, pre-filled from `text` (Slack markup)."""
    prefill = prefill_from_text(text, whole_in_details=kind == "escalation")
    form = triage_views.RequestForm(
        kind=kind,
        teams=[(key, team.name) for key, team in deps.policy.teams.items()],
        urgencies=[(value, label) for value, (label, _) in triage.URGENCIES.items()],
        not_sure=triage.NOT_SURE,
        default_urgency=triage.DEFAULT_URGENCY,
        summary=prefill.summary,
        details=prefill.details,
        reference=reference,
        notice=prefill.notice,
        source=source,
        metadata=meta,
    )
    return triage_views.request_modal(form)


_WHERE_FROM = ("channel_id", "channel_name", "message_ts", "thread_ts")  # the request modal's private_metadata


def _form(body: dict[str, Any], view: dict[str, Any], kind: str, team: str | None) -> FilingForm:
    meta = metadata(view)
    return FilingForm(
        kind=kind,
        requester_slack_id=body["user"]["id"],
        summary=modals.state_value(view, "summary"),
        details=modals.state_value(view, "details"),
        team=team,
        urgency=modals.state_value(view, "urgency"),
        reference=modals.state_value(view, "reference"),
        channel_id=_str(meta.get("channel_id")),
        channel_name=_str(meta.get("channel_name")),
        message_ts=_str(meta.get("message_ts")),
        thread_ts=_str(meta.get("thread_ts")),
    )


def submit(deps: Deps, ack: Ack, body: dict[str, Any], view: dict[str, Any], kind: str) -> None:
    """A submitted request modal: inline errors; or, when triage is unsure which team, the modal asking the
    requester to pick one of two (nothing filed yet); else the request stored and handed to filing."""
    form = _form(body, view, kind, modals.state_value(view, "team"))
    errors = check_form(deps.policy, form)
    if errors:
        ack(response_action="errors", errors=errors)
        return
    choice = triage_form(deps.db, deps.policy, form)
    if should_ask(choice):
        ack(response_action="update", view=team_question(deps, form, view, choice))
        return
    _filed(deps, ack, form, open_filing(deps.db, deps.dispatcher, deps.policy, form, choice))


def team_question(deps: Deps, form: FilingForm, view: dict[str, Any], choice: triage.TeamChoice) -> dict[str, Any]:
    """The request modal again, asking which of the two likeliest teams should take it. What the requester entered
    stays in the modal's inputs (details may be 3,000 characters: more than private_metadata holds); the metadata
    carries where it was asked and what triage thought."""
    where_from = {k: v for k, v in metadata(view).items() if k in _WHERE_FROM}
    question = triage_views.RequestForm(
        kind=form.kind,
        teams=[],
        urgencies=[(value, label) for value, (label, _) in triage.URGENCIES.items()],
        not_sure=triage.NOT_SURE,
        default_urgency=form.urgency or triage.DEFAULT_URGENCY,
        summary=clean(form.summary),
        details=clean(form.details),
        reference=clean(form.reference),
        source=triage_views.source_of(view),
        metadata={**where_from, **asked_metadata(choice)},
    )
    return triage_views.team_question_modal(question, offered_teams(deps.policy, choice))


def submit_pick(deps: Deps, ack: Ack, body: dict[str, Any], view: dict[str, Any], kind: str) -> None:
    """The asking modal submitted: inline errors, or the request filed with the team the requester picked."""
    form = _form(body, view, kind, None)
    asked = asked_from(metadata(view), deps.policy)
    picked = triage_views.picked_team(view)
    errors = check_pick(asked, picked) | check_form(deps.policy, form)
    if errors:
        ack(response_action="errors", errors=errors)
        return
    assert asked is not None and picked is not None
    choice = triage.TeamChoice(picked, "asked")
    _filed(deps, ack, form, open_filing(deps.db, deps.dispatcher, deps.policy, form, choice, asked=asked))


def _filed(deps: Deps, ack: Ack, form: FilingForm, req: Request) -> None:
    where = "in the channel's thread" if in_a_channel(form.channel_id) else "here in Slack"
    ack(response_action="update", view=triage_views.submitted_modal(req.ref, form.kind, where))


def _str(value: Any) -> str | None:
    return str(value) if isinstance(value, str) and value else None
