"""Who may do what (SPEC §3, §6.1–§6.3): the one place the bot's authorisation rules live.

Pure: every function takes plain facts (who acts, what they hold, the request and its steps as stored or
as resolved live) and returns a `Verdict`: allowed, refused with the sentence the person is shown, or
`check_live` when a cache could not confirm a role (a cold or stale cache never turns a holder away;
the caller defers to a workflow that reads the membership live). Listeners pass what the database
caches say; workflows pass what providers say.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from bot.db.details import RequestDetails, details_of
from bot.db.models import Request, RequestStatus

ADMIN_ROLE = "it-admins"
HELPDESK_ROLE = "helpdesk"
UNDO_WINDOW = timedelta(hours=24)
# The role cache is refreshed every 10 minutes; older than this it is stale and confirms no absence.
ROLE_CACHE_TRUSTED_FOR = timedelta(minutes=20)
# An offboarding request in one of these states stops the person from getting access back (§6.2).
OFFBOARDING_PENDING = (RequestStatus.SUBMITTED, RequestStatus.PENDING, RequestStatus.APPROVED, RequestStatus.RUNNING)
OFFBOARDING_DONE = (RequestStatus.DONE, RequestStatus.PARTLY_FAILED, RequestStatus.FAILED)
RETRYABLE = (RequestStatus.FAILED, RequestStatus.PARTLY_FAILED)  # Retry failed steps is offered on these
ROTATION_REACTIVATABLE = ("grace", "deactivating", "deactivated")


class Why(Enum):
    ALLOWED = "allowed"
    CHECK_LIVE = "check_live"  # a cache could not confirm a role: ask the workflow that reads it live
    NOT_FOUND = "not_found"
    OWN_REQUEST = "own_request"
    NOT_APPROVER = "not_approver"
    ALREADY_DECIDED = "already_decided"  # by this person (a double click, or an earlier step: §6.1)
    NOT_PENDING = "not_pending"
    EXPIRED = "expired"
    NOT_ALLOWED = "not_allowed"  # the action is for other roles
    OFFBOARDED = "offboarded"
    SUSPENDED = "suspended"
    NOT_VISIBLE = "not_visible"
    WRONG_STATE = "wrong_state"
    TOO_LATE = "too_late"


@dataclass(frozen=True)
class Verdict:
    why: Why
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.why is Why.ALLOWED

    @property
    def check_live(self) -> bool:
        return self.why is Why.CHECK_LIVE


ALLOWED = Verdict(Why.ALLOWED)


def refuse(why: Why, message: str) -> Verdict:
    return Verdict(why, message)


# --- facts ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Actor:
    """The person acting. `roles` are the roles known to be held; `unconfirmed` the roles a cache could not
    confirm either way (backed by an Okta group: only a live read says no). `offboarding`: "pending" or "done"
    when an offboarding request names them; `suspended`: known from providers only (workflows)."""

    slack_id: str
    email: str | None
    roles: frozenset[str] = frozenset()
    unconfirmed: frozenset[str] = frozenset()
    offboarding: str | None = None
    suspended: bool = False

    def holds(self, role: str) -> bool:
        return role in self.roles

    def is_(self, email: str | None) -> bool:
        return bool(self.email and email and self.email.lower() == email.lower())


@dataclass(frozen=True)
class StepFacts:
    position: int
    spec: str
    status: str  # waiting | pending | approved | denied | skipped
    approver_emails: tuple[str, ...] = ()
    approver_slack_ids: tuple[str, ...] = ()
    decided_by_email: str | None = None
    decided_by_slack_id: str | None = None
    decided_at: datetime | None = None


@dataclass(frozen=True)
class RequestFacts:
    ref: str
    kind: str
    status: RequestStatus
    requester_email: str
    requester_slack_id: str
    subjects: frozenset[str] = frozenset()  # who it acts on besides the requester
    steps: tuple[StepFacts, ...] = ()
    expires_at: datetime | None = None
    owners: tuple[str, ...] = ()
    confidential: bool = False
    team_dris: tuple[str, ...] = ()
    decided_by_email: str | None = None
    decided_at: datetime | None = None
    finished_at: datetime | None = None  # an offboarding run's end (for Undo)

    @property
    def current(self) -> StepFacts | None:
        return next((s for s in self.steps if s.status == "pending"), None)

    def concerns(self, actor: Actor) -> bool:
        """The requester or someone the request acts on."""
        return actor.slack_id == self.requester_slack_id or any(
            actor.is_(e) for e in (self.requester_email, *self.subjects)
        )


def request_facts(req: Request, steps: Iterable[Any], dris: Sequence[str] = ()) -> RequestFacts:
    """From the stored request and steps (ORM rows read as plain values)."""
    details = details_of(req, RequestDetails)
    subjects = {e.lower() for e in details.subjects}
    if req.subject_email:
        subjects.add(req.subject_email.lower())
    return RequestFacts(
        ref=req.ref,
        kind=req.kind,
        status=req.status,
        requester_email=(req.requester_email or "").lower(),
        requester_slack_id=req.requester_slack_id,
        subjects=frozenset(subjects),
        steps=tuple(
            StepFacts(
                s.position,
                s.spec,
                s.status,
                tuple(s.approver_emails),
                tuple(s.approver_slack_ids),
                s.decided_by_email,
                s.decided_by_slack_id,
                s.decided_at,
            )
            for s in sorted(steps, key=lambda s: s.position)
        ),
        expires_at=req.expires_at,
        owners=tuple(o.lower() for o in details.owners),
        confidential=bool(details.confidential),
        team_dris=tuple(d.lower() for d in dris),
        decided_by_email=req.decided_by_email,
        decided_at=req.decided_at,
    )


def offboarding_state(statuses: Iterable[str]) -> str | None:
    """ "done", "pending" or None, from the statuses of the offboarding requests that name a person."""
    found = set(statuses)
    if found & set(OFFBOARDING_DONE):
        return "done"
    if found & set(OFFBOARDING_PENDING):
        return "pending"
    return None


def hhmm(moment: datetime | None) -> str:
    return f"{moment:%H:%M} UTC" if moment else "an earlier moment"


# --- approvals (§6.1) -------------------------------------------------------------------------------------------------
def step_approvers(resolved: Iterable[str], excluded: Iterable[str], admins: Iterable[str]) -> tuple[list[str], bool]:
    """A step's approvers: the resolved ones minus the excluded (requester, subjects, whoever decided an earlier
    step); when none is left, role:it-admins (minus the same). Returns (emails, fell back to it-admins)."""
    out = {e.lower() for e in excluded}
    emails = list(dict.fromkeys(e.lower() for e in resolved if e.lower() not in out))
    if emails:
        return emails, False
    return list(dict.fromkeys(e.lower() for e in admins if e.lower() not in out)), True


def not_approvers(req: RequestFacts) -> set[str]:
    """Who never approves a step of this request: the requester, the people it acts on, and whoever decided
    an earlier step (one person passes at most one step)."""
    deciders = {s.decided_by_email.lower() for s in req.steps if s.decided_by_email and s.status == "approved"}
    return {req.requester_email, *req.subjects} | deciders


def _stale(actor: Actor, req: RequestFacts) -> Verdict:
    if req.status == RequestStatus.SUBMITTED:
        return refuse(Why.NOT_PENDING, f"{req.ref} is still being prepared; try again in a moment.")
    if req.status == RequestStatus.EXPIRED:
        return refuse(Why.EXPIRED, f"{req.ref} expired: nobody decided in time; nothing changed.")
    verbs: dict[str, str] = {
        RequestStatus.APPROVED: "approved",
        RequestStatus.RUNNING: "approved",
        RequestStatus.DONE: "approved and done",
        RequestStatus.DENIED: "denied",
        RequestStatus.FAILED: "approved (it then failed)",
        RequestStatus.PARTLY_FAILED: "approved (it then partly failed)",
    }
    if req.status in verbs:
        if actor.is_(req.decided_by_email):
            verb = "denied" if req.status == RequestStatus.DENIED else "approved"
            return refuse(
                Why.ALREADY_DECIDED, f"You already {verb} {req.ref} at {hhmm(req.decided_at)}; nothing changed."
            )
        who = req.decided_by_email or "someone"
        at = f" at {hhmm(req.decided_at)}" if req.decided_at else ""
        return refuse(Why.NOT_PENDING, f"{req.ref} was already {verbs[req.status]} by {who}{at}; nothing changed.")
    return refuse(Why.NOT_PENDING, f"{req.ref} is no longer waiting for approval ({req.status}); nothing changed.")


def decide(actor: Actor, req: RequestFacts, now: datetime | None, approvers: Sequence[str] | None = None) -> Verdict:
    """Approve or Deny the current step. `approvers`: the step's approvers resolved live (the workflow that
    records the decision passes them); without it, the stored ones (the listener's early answer).
    `now` None: leave out the expiry check (listing what waits on someone)."""
    current = req.current
    if req.status != RequestStatus.PENDING or current is None:
        return _stale(actor, req)
    if now is not None and req.expires_at is not None and req.expires_at <= now:
        return refuse(
            Why.EXPIRED, f"{req.ref} expired at {hhmm(req.expires_at)} (nobody decided in time); nothing changed."
        )
    if req.concerns(actor):
        return refuse(
            Why.OWN_REQUEST, f"You cannot approve or deny your own request ({req.ref}), not even as an owner or admin."
        )
    cut = _cut_off(actor, f"approve or deny {req.ref}")  # Slack sessions outlive an offboarding
    if cut is not None:
        return cut
    mine = next(
        (
            s
            for s in req.steps
            if s.status == "approved" and (actor.is_(s.decided_by_email) or (s.decided_by_slack_id == actor.slack_id))
        ),
        None,
    )
    if mine is not None:
        return refuse(
            Why.ALREADY_DECIDED,
            f"You already approved {req.ref} at {hhmm(mine.decided_at)} ({mine.spec} step); nothing changed: one "
            f"person passes at most one step, so the {current.spec} step needs someone else.",
        )
    if approvers is None:
        listed = actor.slack_id in current.approver_slack_ids or any(actor.is_(e) for e in current.approver_emails)
        waiting = ", ".join(current.approver_emails) or "nobody"
    else:
        listed = any(actor.is_(e) for e in approvers)
        waiting = ", ".join(approvers) or "nobody"
    if not listed:
        return refuse(
            Why.NOT_APPROVER,
            f"You are not an approver of the current step of {req.ref} ({current.spec}: {waiting}); nothing changed.",
        )
    return ALLOWED


def resolved_live(spec: str) -> bool:
    """A step whose approvers are read again at click time (`manager`, `role:x`, a fallback to it-admins): a click
    from someone not stored as its approver may still count, so only the live check may refuse it."""
    base, _, fallback = spec.partition(" → ")
    return base == "manager" or base.startswith("role:") or bool(fallback)


def may_see_card_buttons(audience: str, recipient: str | None, req: RequestFacts) -> bool:
    """Approve/Deny on a copy of the card: the channel copy (the click is checked anyway) and the DMs of the
    current step's approvers."""
    current = req.current
    if req.status != RequestStatus.PENDING or current is None:
        return False
    return audience == "channel" or (audience == "approver" and recipient in current.approver_slack_ids)


def waiting_on(actor: Actor, req: RequestFacts) -> bool:
    """`/engops approvals`, App Home: the current step is the person's to decide (never their own request)."""
    return decide(actor, req, None).ok


def retry(actor: Actor, req: RequestFacts) -> Verdict:
    """Retry failed steps: the requester or it-admins, on a failed or partly failed request."""
    if actor.slack_id != req.requester_slack_id and not actor.is_(req.requester_email) and not actor.holds(ADMIN_ROLE):
        return refuse(Why.NOT_ALLOWED, f"Only the requester or an IT admin can retry {req.ref}.")
    cut = _cut_off(actor, "retry a request")
    if cut is not None:
        return cut
    if req.status not in RETRYABLE:
        return refuse(Why.WRONG_STATE, f"{req.ref} has nothing to retry ({req.status}); nothing changed.")
    return ALLOWED


# --- seeing a request -------------------------------------------------------------------------------------------------
def view_request(actor: Actor, req: RequestFacts) -> Verdict:
    """`/engops status REQ-n`: the requester, the people it acts on, its approvers, it-admins; the help desk too
    unless it is confidential, when the team's DRIs may instead."""
    approvers = {e.lower() for s in req.steps for e in s.approver_emails}
    approver_ids = {i for s in req.steps for i in s.approver_slack_ids}
    about_them_only = req.kind == "offboarding" and not actor.is_(req.requester_email)
    if (
        (req.concerns(actor) and not about_them_only)
        or actor.slack_id in approver_ids
        or (actor.email or "").lower() in approvers
        or actor.holds(ADMIN_ROLE)
        or (req.confidential and (actor.email or "").lower() in req.team_dris)
        or (not req.confidential and actor.holds(HELPDESK_ROLE))
    ):
        return ALLOWED
    return refuse(Why.NOT_VISIBLE, f"{req.ref} does not exist or is not one of yours.")


# --- access grants (§6.2) ---------------------------------------------------------------------------------------------
def _cut_off(actor: Actor, doing: str) -> Verdict | None:
    if actor.offboarding == "done":
        return refuse(Why.OFFBOARDED, f"You have been offboarded, so you cannot {doing}. Ask IT if this is wrong.")
    if actor.offboarding == "pending":
        return refuse(Why.OFFBOARDED, f"An offboarding of your account is under way, so you cannot {doing}.")
    if actor.suspended:
        return refuse(Why.SUSPENDED, f"Your account is suspended, so you cannot {doing}. Ask IT if this is wrong.")
    return None


def request_access(actor: Actor, *, on_behalf: bool = False) -> Verdict:
    """`/access`: anyone not cut off; "on behalf of" only the help desk."""
    cut = _cut_off(actor, "request access")
    if cut is not None:
        return cut
    if on_behalf and not actor.holds(HELPDESK_ROLE):
        return refuse(Why.NOT_ALLOWED, "Only the help desk (role:helpdesk) can request on behalf of someone else.")
    return ALLOWED


def access_for(subject: str, *, okta_status: str | None, offboarding: str | None) -> Verdict:
    """The plan's check on the person the grant is for (live Okta status, offboarding from the database)."""
    if offboarding == "done":
        return refuse(Why.OFFBOARDED, f"{subject} has been offboarded; no access is granted to them.")
    if offboarding == "pending":
        return refuse(Why.OFFBOARDED, f"{subject} is being offboarded; no access is granted to them.")
    if okta_status is None:
        return refuse(Why.NOT_FOUND, f"{subject} has no Okta account.")
    if okta_status == "SUSPENDED":
        return refuse(Why.SUSPENDED, f"{subject}'s Okta account is suspended; no access is granted to them.")
    if okta_status not in ("ACTIVE", "PASSWORD_EXPIRED", "RECOVERY", "LOCKED_OUT"):
        return refuse(Why.SUSPENDED, f"{subject}'s Okta account is {okta_status}; no access is granted to them.")
    return ALLOWED


def revoke_grant(actor: Actor, req: RequestFacts, holder_slack_id: str | None) -> Verdict:
    """Revoke now / `/access revoke`: the requester, the holder, the group's owners, it-admins."""
    if (
        actor.slack_id in (req.requester_slack_id, holder_slack_id)
        or any(actor.is_(o) for o in req.owners)
        or actor.holds(ADMIN_ROLE)
    ):
        return ALLOWED
    return refuse(Why.NOT_ALLOWED, f"Only the requester, the group's owners or IT admins can revoke {req.ref}.")


# --- offboarding (§3, §6.3) -------------------------------------------------------------------------------------------
def offboard_refusal(allowed: Sequence[str]) -> str:
    who = ", ".join(f"`{e}`" for e in allowed)
    return f"Only {who} can offboard people. Ask the help desk if someone is leaving."


def offboard(actor: Actor, allowed: Sequence[str]) -> Verdict:
    """`/offboard` and its submit: `offboarding.allowed` entries (`role:<name>` or emails). A role the cache does
    not confirm is checked live (`check_live`), never refused from the cache."""
    refusal = refuse(Why.NOT_ALLOWED, offboard_refusal(allowed))
    roles = [e.split(":", 1)[1] for e in allowed if e.startswith("role:")]
    if any(actor.holds(r) for r in roles) or any(actor.is_(e) for e in allowed if not e.startswith("role:")):
        return ALLOWED
    if any(r in actor.unconfirmed for r in roles):
        return Verdict(Why.CHECK_LIVE, "")
    return refusal


def intake(actor: Actor) -> Verdict:
    """Whose emoji reaction files a thread, and who picks its team when triage is unsure: the help desk (SPEC
    §6.4; IT admins escalate with the shortcut). A role the cache cannot confirm is read live."""
    if actor.holds(HELPDESK_ROLE):
        return ALLOWED
    if HELPDESK_ROLE in actor.unconfirmed:
        return Verdict(
            Why.CHECK_LIVE,
            "I could not check your role yet (the bot has just started and is still reading who holds which role); "
            "try again in a minute.",
        )
    return refuse(Why.NOT_ALLOWED, "Only the help desk files threads by emoji and picks the team for them.")


def escalate(actor: Actor) -> Verdict:
    """`/escalate`, the Escalate to EngOps shortcut: the help desk and IT admins. The listener cannot defer this one,
    so a role its cache cannot confirm is answered with "try again", never with "not allowed"."""
    if actor.holds(HELPDESK_ROLE) or actor.holds(ADMIN_ROLE):
        return ALLOWED
    if {HELPDESK_ROLE, ADMIN_ROLE} & actor.unconfirmed:
        return Verdict(
            Why.CHECK_LIVE,
            "I could not check your role yet (the bot has just started and is still reading who holds which role); "
            "try again in a minute.",
        )
    return refuse(
        Why.NOT_ALLOWED,
        "Only the help desk (and IT admins) can escalate to EngOps. To ask EngOps for something yourself, use `/it`.",
    )


def take_escalation(actor: Actor, team_name: str, dris: Sequence[str]) -> Verdict:
    """**I'm on it**: the team's DRIs and IT admins."""
    if any(actor.is_(d) for d in dris) or actor.holds(ADMIN_ROLE):
        return ALLOWED
    return refuse(
        Why.NOT_ALLOWED, f"Only the DRIs of {team_name} ({', '.join(dris)}) or IT admins can take an escalation."
    )


def undo_offboarding(actor: Actor, req: RequestFacts, now: datetime) -> Verdict:
    """Undo on a finished offboarding: it-admins, within 24 hours of the run's end."""
    if not actor.holds(ADMIN_ROLE):
        return refuse(Why.NOT_ALLOWED, f"Only IT admins can undo an offboarding ({req.ref}).")
    if req.status == RequestStatus.UNDONE:
        return refuse(
            Why.WRONG_STATE, f"{req.ref} was already undone by {req.decided_by_email or 'someone'}; nothing changed."
        )
    if req.status not in (RequestStatus.DONE, RequestStatus.PARTLY_FAILED) or req.finished_at is None:
        return refuse(Why.WRONG_STATE, f"{req.ref} can be undone only once its run has finished.")
    if now - req.finished_at >= UNDO_WINDOW:
        return refuse(Why.TOO_LATE, f"{req.ref} finished more than 24 hours ago; unsuspend the accounts by hand.")
    return ALLOWED


# --- AWS key rotation (§6.3) ------------------------------------------------------------------------------------------
def rotate_keys(actor: Actor) -> Verdict:
    """`/rotate-keys` (own keys or a service user's): anyone not cut off."""
    return _cut_off(actor, "rotate AWS keys") or ALLOWED


def rotation_steps(iam_user: str, service_users: Iterable[str]) -> list[str]:
    """A service user always needs one of its owners (the engine leaves out the requester; with no owner left,
    role:it-admins); a person's own IAM user needs no approval."""
    return ["owners"] if iam_user in set(service_users) else []


@dataclass(frozen=True)
class RotationFacts:
    ref: str
    iam_user: str
    service_user: bool
    requester_slack_id: str
    requester_email: str
    owners: tuple[str, ...] = ()
    status: str = ""  # the rotation's status
    old_key_id: str | None = None
    rolled_back_by: str | None = None
    person_offboarding: str | None = None  # the own-key person's offboarding ("pending" | "done")


def reactivate_old_key(actor: Actor, rot: RotationFacts) -> Verdict:
    """Reactivate old key: the person (own keys) or the service user's owners, or an IT admin; never for, nor by,
    someone cut off (an offboarded person's rotations stop); only during the grace period."""
    cut = _cut_off(actor, "reactivate an old key")
    if cut is not None:
        return cut
    if not rot.service_user and rot.person_offboarding is not None:
        state = "has been offboarded" if rot.person_offboarding == "done" else "is being offboarded"
        return refuse(
            Why.OFFBOARDED, f"{rot.requester_email} {state}, so the old key of {rot.ref} cannot be reactivated."
        )
    allowed = (
        (not rot.service_user and actor.slack_id == rot.requester_slack_id)
        or (rot.service_user and any(actor.is_(o) for o in rot.owners))
        or actor.holds(ADMIN_ROLE)
    )
    if not allowed:
        whose = (
            f"the owners of {rot.iam_user} ({', '.join(rot.owners)})"
            if rot.service_user
            else f"{rot.requester_email} (whose key it is)"
        )
        return refuse(Why.NOT_ALLOWED, f"Only {whose} or an IT admin can reactivate the old key of {rot.ref}.")
    if rot.status == "rolled_back":
        return refuse(
            Why.WRONG_STATE,
            f"The old key of {rot.ref} was already reactivated by {rot.rolled_back_by}; nothing changed.",
        )
    if rot.status in ("deleting", "done"):
        return refuse(
            Why.TOO_LATE, f"The old key of {rot.ref} is deleted (the grace period is over); it cannot be reactivated."
        )
    if not rot.old_key_id:
        return refuse(Why.WRONG_STATE, f"{rot.ref} had no old key to reactivate; nothing changed.")
    if rot.status not in (*ROTATION_REACTIVATABLE, "reactivating"):
        return refuse(Why.WRONG_STATE, f"{rot.ref} has not made its new key yet ({rot.status}); nothing to roll back.")
    return ALLOWED


def delete_inactive_key(actor: Actor, iam_user: str, *, service: bool, owners: Sequence[str]) -> Verdict:
    """Delete the inactive key that blocks a rotation (from the preview): one's own IAM user, else its owners or an
    IT admin."""
    if not service or any(actor.is_(o) for o in owners) or actor.holds(ADMIN_ROLE):
        return ALLOWED
    return refuse(
        Why.NOT_ALLOWED,
        f"Only the owners of {iam_user} ({', '.join(owners)}) or an IT admin can delete its keys; nothing was deleted.",
    )


def may_reactivate_key(rot_deactivated_it: bool, key_status: str) -> bool:
    """§6.3: Reactivate only re-activates the key its own rotation deactivated. An old key that is inactive
    although this rotation never deactivated it was turned off by something else (e.g. an offboarding)."""
    return rot_deactivated_it or key_status == "Active"
