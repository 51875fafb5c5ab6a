"""Okta group access (SPEC §6.2): plan, grant on approval, revoke, expire, warn before expiry."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from bot import audit, permissions
from bot.db import queries
from bot.db.details import details_of, store_details
from bot.db.engine import Database, take_turns
from bot.db.models import Grant, Person, Request, RequestStatus
from bot.durations import describe_duration, describe_until
from bot.policy import Policy
from bot.providers.errors import NotFoundError, ProviderError
from bot.slack import cards
from workflows.access.details import AccessDetails
from workflows.access.form import AccessForm
from workflows.engine import people, runtime
from workflows.engine.approvals import NewRequest, Outcome, notify_requester, refresh_cards
from workflows.engine.durable import Dispatcher, durable, step
from workflows.engine.handover import deliver, promise
from workflows.engine.kinds import PlanError, register_kind
from workflows.engine.sweep import Job, due_handler

log = logging.getLogger(__name__)

KIND = "access"
WARN_DAY = timedelta(days=1)
WARN_HOUR = timedelta(hours=1)


def _subject(req: Request) -> str:
    return (req.subject_email or req.requester_email).lower()


def _group(req: Request) -> str:
    return details_of(req, AccessDetails).group


def _duration(req: Request) -> timedelta | None:
    return details_of(req, AccessDetails).duration


def new_access_request(
    policy: Policy,
    form: AccessForm,
    *,
    requester_slack_id: str,
    requester_email: str,
    on_behalf: str | None,
    channel_id: str | None,
) -> NewRequest:
    """The request a checked form asks for (`on_behalf`: the Slack id of the colleague it is for)."""
    group = form.group
    assert group is not None and form.ok
    summary = f"Add {'a colleague' if on_behalf else 'me'} to Okta group {group.okta_group}"
    if form.duration:
        summary += f" for {form.duration_text}"
    return NewRequest(
        kind=KIND,
        requester_slack_id=requester_slack_id,
        requester_email=requester_email,
        summary=summary,
        reason=form.reason,
        step_specs=policy.group_approvals(group),
        details=AccessDetails(
            group=group.okta_group,
            owners=list(group.owners),
            duration_seconds=int(form.duration.total_seconds()) if form.duration else None,
            duration_label=form.duration_text or "until revoked",
            subject_slack_id=on_behalf,
        ),
        channel_id=channel_id,
        auto_approve=group.auto_approve,
    )


class AccessKind:
    name = KIND
    details_model = AccessDetails

    def plan(self, req: Request) -> list[str]:
        okta = runtime.current().require_okta()
        subject, group_name = _subject(req), _group(req)
        user = okta.get_user(subject)
        with runtime.current().db.session() as session:
            offboarding = queries.offboarding_state_of(session, subject)
        verdict = permissions.access_for(subject, okta_status=user.status if user else None, offboarding=offboarding)
        if not verdict.ok or user is None:
            raise PlanError(verdict.message.rstrip("."))
        group = okta.get_group_by_name(group_name)
        if group is None:
            raise PlanError(f"the Okta group {group_name} does not exist.")
        member = any(g.id == group.id for g in okta.list_user_groups(user.id))
        who = subject if user.login.lower() == subject.lower() else f"{subject} (Okta login {user.login})"
        duration = _duration(req)
        held = _held_grant(subject, group_name, req.id)
        if held is not None:
            return [_extension_line(who, group_name, held, duration, runtime.current().clock.now())]
        lines = [f"Okta: add {who} to {group_name}" + (" (already a member; nothing to add)" if member else "")]
        if duration:
            lines.append(f"Okta: remove {subject} from {group_name} again after {describe_duration(duration)}")
        else:
            lines.append("No expiry: membership stays until revoked")
        return lines

    def execute_workflow(self) -> str:
        return "execute_access"

    def requester_actions(self, req: Request) -> list[str]:
        active = req.status == RequestStatus.DONE and details_of(req, AccessDetails).grant_active
        return [cards.REVOKE] if active else []

    def card_fields(self, req: Request) -> list[tuple[str, str]]:
        label = details_of(req, AccessDetails).duration_label
        return [("For how long", label)] if label else []


register_kind(AccessKind())


# --- a grant the requester already holds: extended, not doubled (SPEC §6.2) -------------------------
def _held_grant(subject: str, group: str, request_id: int | None) -> Grant | None:
    """The active grant the bot made of `group` to `subject` for another request, if any."""
    with runtime.current().db.session() as session:
        return _held_grant_in(session, subject, group, request_id)


def _held_grant_in(session: Session, subject: str, group: str, request_id: int | None) -> Grant | None:
    return session.exec(
        select(Grant)
        .where(Grant.user_email == subject)
        .where(Grant.okta_group == group)
        .where(Grant.status == "active")
        .where(Grant.request_id != request_id)
        .order_by(col(Grant.id))
    ).first()


def _extension_line(who: str, group: str, held: Grant, duration: timedelta | None, now: datetime) -> str:
    """What approving does to the grant held already: the card's plan line."""
    was = f"REQ-{held.request_id}"
    if held.expires_at is None:
        return f"Okta: {who} already holds {group} until revoked ({was}): nothing to add or extend"
    ending = f"{held.expires_at:%Y-%m-%d %H:%M UTC}"
    if duration is None:
        return f"Okta: extends the grant of {group} to {who} ending {ending} ({was}) to no end date (until revoked)"
    to = now + duration
    later = "" if to > held.expires_at else "; it already ends later, so it stays as it is"
    return (
        f"Okta: extends the grant of {group} to {who} ending {ending} ({was}) to {to:%Y-%m-%d %H:%M UTC}"
        f" ({describe_duration(duration)} after approval{later})"
    )


def _extend(session: Session, req: Request, held: Grant, expires: datetime | None, now: datetime) -> str:
    """Approval of a request for a group the subject holds through the bot: that grant gets the later end."""
    before = held.expires_at
    after = None if expires is None or before is None else max(before, expires)
    if after != before:
        held.expires_at = after
        held.warned_day = held.warned_hour = False  # the warnings are for the new end
        session.add(held)
    # the grant is the earlier request's; its card offers Revoke now
    _mark_done(session, req, now, grant_active=False, extended=held.request_id)
    audit.append(
        session,
        actor="engops-bot",
        action="access.extended",
        subject=held.user_email,
        request_id=req.id,
        detail={"group": held.okta_group, "grant_of": held.request_id, "from": before, "to": after},
    )
    return _extended_text(req, held, now)


def _extended_text(req: Request, held: Grant, now: datetime) -> str:
    if held.expires_at is None:
        return f"Done: {_subject(req)} holds {_group(req)} until revoked (REQ-{held.request_id}; {req.ref})."
    until = f"{held.expires_at:%Y-%m-%d %H:%M UTC} ({describe_until(held.expires_at, now)})"
    return f"Done: {_subject(req)}'s grant of {_group(req)} (REQ-{held.request_id}) now ends {until} ({req.ref})."


# --- execution ----------------------------------------------------------------------------------
@step("workflows.access._add_member")
def _add_member(request_id: int) -> str | None:
    """Add the member in Okta; returns an error text instead of raising, so the run can say why."""
    rt = runtime.current()
    with rt.db.session() as session:
        req = session.get(Request, request_id)
        assert req is not None
    okta = rt.require_okta()
    try:
        user = okta.get_user(_subject(req))
        with rt.db.session() as session:
            offboarding = queries.offboarding_state_of(session, _subject(req))
        # checked again when it runs: a Retry can come after the person was suspended or offboarded (SPEC §6.2)
        verdict = permissions.access_for(
            _subject(req), okta_status=user.status if user else None, offboarding=offboarding
        )
        if not verdict.ok:
            return verdict.message.rstrip(".")
        group = okta.get_group_by_name(_group(req))
        if user is None or group is None:
            return f"{'user' if user is None else 'group'} not found in Okta"
        okta.add_member(group.id, user.id)
    except ProviderError as exc:
        return exc.message if exc.status is None else f"{exc.message} (HTTP {exc.status})"
    with rt.db.session() as session:
        req = session.get(Request, request_id)
        assert req is not None
        details = details_of(req, AccessDetails)
        details.okta_user_id = user.id
        store_details(req, details)
        session.add(req)
        audit.append(
            session,
            actor="engops-bot",
            action="okta.add_member",
            subject=_subject(req),
            request_id=request_id,
            detail={"group": _group(req), "okta_user_id": user.id, "okta_login": user.login},
        )
    return None


@step("workflows.access._activate")
def _activate(request_id: int) -> str:
    """Record the grant and finish the request; returns the requester's message."""
    rt = runtime.current()
    now = rt.clock.now()
    with rt.db.session() as session:
        req = session.get(Request, request_id)
        assert req is not None
        earlier = session.exec(select(Grant).where(Grant.request_id == request_id)).first()
        if earlier is not None:  # this step runs again after a crash: still one grant, one expiry
            return _granted_text(req, earlier.expires_at, now)
        duration = _duration(req)
        expires = now + duration if duration else None
        subject = _subject(req)
        take_turns(session, f"grant:{subject}:{_group(req)}")  # two approvals at once: one grant, extended
        extended = details_of(req, AccessDetails).extended_request_id
        held = _held_grant_in(session, subject, _group(req), request_id)
        if extended is not None:  # this step runs again after a crash: extended already
            grant = session.exec(select(Grant).where(Grant.request_id == extended)).first()
            assert grant is not None
            return _extended_text(req, grant, now)
        if held is not None:
            return _extend(session, req, held, expires, now)
        slack_id = req.requester_slack_id if subject == req.requester_email else _slack_id_cached(session, subject)
        session.add(
            Grant(
                request_id=request_id,
                user_email=subject,
                user_slack_id=slack_id,
                okta_user_id=details_of(req, AccessDetails).okta_user_id,
                okta_group=_group(req),
                status="active",
                granted_at=now,
                expires_at=expires,
            )
        )
        _mark_done(session, req, now, grant_active=True)
        audit.append(
            session,
            actor="engops-bot",
            action="access.granted",
            subject=subject,
            request_id=request_id,
            detail={"group": _group(req), "expires_at": expires},
        )
    return _granted_text(req, expires, now)


def _mark_done(
    session: Session, req: Request, now: datetime, *, grant_active: bool, extended: int | None = None
) -> None:
    details = details_of(req, AccessDetails)
    details.grant_active = grant_active
    details.extended_request_id = extended
    store_details(req, details)
    req.status = RequestStatus.DONE
    req.version += 1
    req.updated_at = now
    session.add(req)


def _granted_text(req: Request, expires: datetime | None, now: datetime) -> str:
    until = f" until {expires:%Y-%m-%d %H:%M UTC} ({describe_until(expires, now)})" if expires else ""
    return f"Done: {_subject(req)} is now in {_group(req)}{until} ({req.ref})."


def _slack_id_cached(session: object, email: str) -> str | None:
    from sqlmodel import Session

    assert isinstance(session, Session)
    person = session.exec(select(Person).where(Person.email == email)).first()
    return person.slack_id if person else None


@step("workflows.access._mark_failed")
def _mark_failed(request_id: int, error: str) -> None:
    rt = runtime.current()
    with rt.db.session() as session:
        req = session.get(Request, request_id)
        assert req is not None
        req.status, req.error, req.version = RequestStatus.FAILED, error, req.version + 1
        session.add(req)
        audit.append(
            session, actor="engops-bot", action="access.failed", request_id=request_id, detail={"error": error}
        )


@durable("execute_access")
def execute_access(request_id: int, attempt: int) -> None:
    error = _add_member(request_id)
    if error:
        _mark_failed(request_id, f"Okta: {error}")
        refresh_cards(request_id)
        notify_requester(
            request_id, f"REQ-{request_id} failed: Okta: {error}. Use Retry failed steps on the card to try again."
        )
        return
    message = _activate(request_id)
    refresh_cards(request_id)
    notify_requester(request_id, message)


# --- revoke and expiry ----------------------------------------------------------------------------
def revoke(db: Database, dispatcher: Dispatcher, grant: Grant, clicker: str, reason: str, now: datetime) -> Outcome:
    """Start ending a grant now (who may: `bot.permissions.revoke_grant`)."""
    with db.session() as session:
        req = session.get(Request, grant.request_id)
        assert req is not None
        actor = queries.actor_of(session, clicker, runtime.current().policy)
        email = actor.email or ""
        verdict = permissions.revoke_grant(actor, permissions.request_facts(req, []), grant.user_slack_id)
        if not verdict.ok:
            return Outcome(False, verdict.message)
        moved = session.execute(
            update(Grant)
            .where(col(Grant.id) == grant.id, col(Grant.status) == "active")
            .values(status="ending", ended_by=email or clicker, end_reason=reason)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            return Outcome(False, f"The grant of {req.ref} is not active any more; nothing changed.")
        audit.append(
            session,
            actor=email or clicker,
            action="access.revoke_requested",
            subject=grant.user_email,
            request_id=req.id,
            detail={"group": grant.okta_group, "reason": reason},
        )
        job = promise(session, "end_grant", f"end-grant-{grant.id}", grant.id)
    deliver(dispatcher, job)
    return Outcome(True, f"Removing {grant.user_email} from {grant.okta_group} now ({req.ref}).")


@step("workflows.access._remove_member")
def _remove_member(grant_id: int) -> str | None:
    rt = runtime.current()
    with rt.db.session() as session:
        grant = session.get(Grant, grant_id)
        assert grant is not None
    okta = rt.require_okta()
    try:
        user_id = grant.okta_user_id or _okta_id_of(grant.user_email)
        if user_id is None:  # a grant made before ids were kept, whose email now names no one
            return f"no Okta user has the login or profile.email {grant.user_email}: remove them by hand"
        group = okta.get_group_by_name(grant.okta_group)
        if group is not None:
            okta.remove_member(group.id, user_id)
    except NotFoundError:
        pass  # the account is gone from Okta, and its memberships with it
    except ProviderError as exc:
        return exc.message
    with rt.db.session() as session:
        audit.append(
            session,
            actor="engops-bot",
            action="okta.remove_member",
            subject=grant.user_email,
            request_id=grant.request_id,
            detail={"group": grant.okta_group},
        )
    return None


def _okta_id_of(email: str) -> str | None:
    user = runtime.current().require_okta().get_user(email)
    return user.id if user is not None else None


@step("workflows.access._close_grant")
def _close_grant(grant_id: int) -> tuple[int, str]:
    rt = runtime.current()
    now = rt.clock.now()
    with rt.db.session() as session:
        grant = session.get(Grant, grant_id)
        assert grant is not None
        req = session.get(Request, grant.request_id)
        assert req is not None
        if grant.status == "ended":  # this step runs again after a crash: closed already, say the same
            expired = req.status == RequestStatus.ENDED
        else:
            expired = grant.status == "expiring"
            grant.status, grant.ended_at = "ended", now
            grant.ended_by = grant.ended_by or "engops-bot (expiry)"
            req.status = RequestStatus.ENDED if expired else RequestStatus.REVOKED
            details = details_of(req, AccessDetails)
            details.grant_active = False
            store_details(req, details)
            req.version += 1
            req.updated_at = now
            session.add(grant)
            session.add(req)
            audit.append(
                session,
                actor=grant.ended_by,
                action="access.expired" if expired else "access.revoked",
                subject=grant.user_email,
                request_id=req.id,
                detail={"group": grant.okta_group, "reason": grant.end_reason},
            )
        if expired:
            text = f"Your access to {grant.okta_group} expired and was removed ({req.ref})."
        else:
            text = (
                f"Your access to {grant.okta_group} was revoked by {grant.ended_by}"
                f"{': ' + grant.end_reason if grant.end_reason else ''} ({req.ref})."
            )
        return grant.request_id, text


@durable("end_grant")
def end_grant(grant_id: int) -> None:
    error = _remove_member(grant_id)
    if error:
        # Still a member: leave the grant due so the next sweep tries again.
        _reopen_grant(grant_id, error)
        return
    request_id, text = _close_grant(grant_id)
    refresh_cards(request_id)
    notify_requester(request_id, text)


@step("workflows.access._reopen_grant")
def _reopen_grant(grant_id: int, error: str) -> None:
    with runtime.current().db.session() as session:
        grant = session.get(Grant, grant_id)
        assert grant is not None
        if grant.status == "ending":
            grant.status = "active"
        session.add(grant)
        audit.append(
            session,
            actor="engops-bot",
            action="access.remove_failed",
            subject=grant.user_email,
            request_id=grant.request_id,
            detail={"error": error},
        )


@due_handler("access.expire_grants")
def expire_grants(now: datetime) -> list[Job]:
    with runtime.current().db.session() as session:
        due = list(
            session.exec(
                select(Grant).where(col(Grant.status).in_(("active", "expiring"))).where(col(Grant.expires_at) <= now)
            )
        )
        for grant in due:
            if grant.status == "active":
                grant.status = "expiring"
                session.add(grant)
    # a per-minute id: a removal that failed is tried again on a later sweep
    return [("end_grant", f"expire-grant-{g.id}-{int(now.timestamp()) // 60}", [g.id]) for g in due]


@due_handler("access.warn_grants")
def warn_grants(now: datetime) -> list[Job]:
    jobs: list[Job] = []
    for flag, ahead in (("warned_hour", WARN_HOUR), ("warned_day", WARN_DAY)):
        with runtime.current().db.session() as session:
            due = list(
                session.exec(
                    select(Grant)
                    .where(Grant.status == "active")
                    .where(col(Grant.expires_at) <= now + ahead)
                    .where(col(getattr(Grant, flag)).is_(False))
                )
            )
            for grant in due:
                if not _warning_due(grant, ahead, now):
                    continue
                setattr(grant, flag, True)
                if flag == "warned_hour":
                    grant.warned_day = True  # no day warning after the hour one
                session.add(grant)
                assert grant.expires_at is not None
                text = (
                    f"Heads-up: your access to {grant.okta_group} ends {describe_until(grant.expires_at, now)} "
                    f"(REQ-{grant.request_id}). Request it again if you still need it."
                )
                # promised with the mark: a sweep killed before it starts the job leaves it to the next one
                jobs.append(promise(session, "warn_grant", f"warn-{grant.id}-{flag}", grant.request_id, text))
    return jobs


def _warning_due(grant: Grant, ahead: timedelta, now: datetime) -> bool:
    """A warning `ahead` of the end, for a grant that is longer than that and has not ended yet."""
    assert grant.expires_at is not None
    longer = grant.granted_at is None or grant.expires_at - grant.granted_at > ahead
    return longer and grant.expires_at > now


@durable("warn_grant")
def warn_grant(request_id: int, text: str) -> None:
    notify_requester(request_id, text)


@due_handler("people.refresh_roles")
def refresh_roles(now: datetime) -> list[Job]:
    people.refresh_roles(now)
    return []


@due_handler("access.refresh_group_info")
def refresh_group_info(now: datetime) -> list[Job]:
    """Okta descriptions of the requestable groups, for the type-ahead (every 10 minutes)."""
    from bot.db.models import OktaGroupInfo

    rt = runtime.current()
    with rt.db.session() as session:
        newest = session.exec(
            select(OktaGroupInfo.refreshed_at).order_by(col(OktaGroupInfo.refreshed_at).desc())
        ).first()
    if newest is not None and now - newest < people.ROLE_REFRESH_EVERY:
        return []
    okta = rt.require_okta()
    found = {g.okta_group: okta.get_group_by_name(g.okta_group) for g in rt.policy.access.groups}
    with rt.db.session() as session:
        take_turns(session, "okta_group_info")
        for name, group in found.items():
            row = session.get(OktaGroupInfo, name) or OktaGroupInfo(name=name)
            row.okta_id = group.id if group else ""
            row.description = group.description if group else "(not found in Okta)"
            row.refreshed_at = now
            session.add(row)
    return []
