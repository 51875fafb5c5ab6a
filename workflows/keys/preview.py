"""The /rotate-keys preview: which IAM user, its keys with age and last use, and whether a rotation can start.

The handler opens a "looking up…" modal with the 3-second trigger; the lookups run here, after the ack,
and fill the modal with views.update. Deleting an inactive key (offered when two keys block a rotation)
runs here too, and shows the refreshed preview.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bot import audit, permissions
from bot.providers.aws import AccessKey
from bot.providers.errors import NotFoundError, ProviderError
from bot.slack import key_views
from bot.slack.messenger import SlackCallError
from workflows.engine import identity, people, runtime
from workflows.engine.durable import durable, step
from workflows.keys.rules import cut_off, rotation_in_progress, two_key_refusal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preview:
    iam_user: str = ""  # empty when no IAM user could be settled (refusal says why)
    service: bool = False
    owners: tuple[str, ...] = ()
    keys: tuple[AccessKey, ...] = field(default=())
    refusal: str | None = None
    inactive_key: str | None = None


def look_up(slack_id: str, target: str) -> Preview:
    """The IAM user the caller may rotate (their own, or a service user of the policy) and its keys."""
    rt = runtime.current()
    rules = rt.policy.aws_keys
    aws = rt.require_aws()
    refused = cut_off(slack_id, people.email_of(slack_id))  # SPEC §6.2: offboarded or suspended
    if refused:
        return Preview(refusal=refused)
    service = rules.service_users.get(target) if target else None
    if service is not None:
        iam_user, owners = target, tuple(o.lower() for o in service.owners)
    else:
        email = people.email_of(slack_id)
        own = identity.iam_user_of(email)
        if target and target != own:
            known = ", ".join(sorted(rules.service_users)) or "none"
            return Preview(
                refusal=f"{target} is neither your own IAM user nor a service user of the policy "
                f"(aws_keys.service_users: {known}). Use /rotate-keys alone for your own keys."
            )
        if isinstance(own, identity.Refusal):
            return Preview(refusal=f"{own.text}. You have no IAM user of your own to rotate.")
        if own is None:
            domain = rt.policy.org.email_domain
            how = (
                "or named like it"
                if identity.outside_domain(email, domain) is None
                else (f"(outside {domain} only that tag counts)")
            )
            return Preview(
                refusal=f"No IAM user is tagged email={email} {how}, so you have no AWS access keys to rotate."
            )
        iam_user, owners = own, ()
    try:
        keys = tuple(aws.list_keys(iam_user))
    except NotFoundError:
        return Preview(
            iam_user=iam_user,
            service=service is not None,
            owners=owners,
            refusal=f"The IAM user {iam_user} does not exist in AWS.",
        )
    refusal, inactive = two_key_refusal(iam_user, list(keys))
    if refusal is None:
        with rt.db.session() as session:
            busy = rotation_in_progress(session, iam_user)
        if busy:
            refusal = f"{iam_user} already has a rotation in progress ({busy}); wait until it is done."
    return Preview(
        iam_user=iam_user, service=service is not None, owners=owners, keys=keys, refusal=refusal, inactive_key=inactive
    )


def _show(view_id: str, view: dict[str, object]) -> None:
    try:
        runtime.current().slack.update_view(view_id, view)
    except SlackCallError as exc:
        if exc.error != "not_found":
            raise
        log.info("preview %s was closed before it was filled", view_id)  # the person closed the modal


@step("workflows.key_preview._render_preview", retries_allowed=True, max_attempts=3, interval_seconds=1.0)
def _render_preview(slack_id: str, target: str, view_id: str, channel_id: str | None, notice: str | None) -> None:
    rt = runtime.current()
    try:
        preview = look_up(slack_id, target)
    except ProviderError as exc:
        _show(
            view_id,
            key_views.message_modal(
                f":warning: AWS could not be reached ({exc.message}). Nothing was "
                "changed; try /rotate-keys again in a moment."
            ),
        )
        return
    if not preview.iam_user:
        _show(view_id, key_views.message_modal(f":no_entry: {preview.refusal}"))
        return
    _show(
        view_id,
        key_views.preview_modal(
            iam_user=preview.iam_user,
            service=preview.service,
            owners=preview.owners,
            keys=preview.keys,
            refusal=preview.refusal,
            inactive_key=preview.inactive_key,
            rules=rt.policy.aws_keys,
            target=target,
            channel_id=channel_id,
            now=rt.clock.now(),
            notice=notice,
        ),
    )


@durable("key_rotation_preview")
def key_rotation_preview(slack_id: str, target: str, view_id: str, channel_id: str | None) -> None:
    _render_preview(slack_id, target, view_id, channel_id, None)


@step("workflows.key_preview._delete_inactive")
def _delete_inactive(slack_id: str, target: str, key_id: str) -> str:
    """Delete the inactive key that blocks a rotation; returns what to show above the refreshed preview."""
    rt = runtime.current()
    try:
        preview = look_up(slack_id, target)
        if preview.inactive_key != key_id:
            return f"{key_id} is not the inactive key blocking the rotation any more; nothing was deleted."
        email = people.email_of(slack_id)
        actor = people.live_actor(slack_id) if preview.service else permissions.Actor(slack_id, email)
        verdict = permissions.delete_inactive_key(
            actor, preview.iam_user, service=preview.service, owners=preview.owners
        )
        if not verdict.ok:
            return verdict.message
        rt.require_aws().delete_key(preview.iam_user, key_id)
    except ProviderError as exc:
        return f"AWS: {exc.message}; nothing was deleted."
    audit.record(
        rt.db,
        actor=email,
        action="aws.key_deleted",
        subject=preview.iam_user,
        detail={"key_id": key_id, "why": "inactive key deleted from the /rotate-keys preview"},
    )
    return f"Deleted the inactive key {key_id}."


@durable("delete_inactive_key")
def delete_inactive_key(slack_id: str, target: str, key_id: str, view_id: str, channel_id: str | None) -> None:
    notice = _delete_inactive(slack_id, target, key_id)
    _render_preview(slack_id, target, view_id, channel_id, notice)
