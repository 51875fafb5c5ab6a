"""`/rotate-keys [iam-user]`, its preview modal, and the key buttons: Rotate now, Delete inactive key,
Reactivate old key. Listeners only read/write the database and enqueue; AWS is looked up after the ack."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App

from bot import permissions
from bot.db import queries
from bot.slack import key_views, modals
from bot.slack.escape import escape
from commands.deps import Deps
from commands.interaction import channel_of, metadata, open_modal, reply_id, request_id_from
from workflows.engine.approvals import open_request
from workflows.engine.replies import reply_later
from workflows.keys.rollback import reactivate
from workflows.keys.rotation import new_rotation_request

_IAM_USER = re.compile(r"[\w+=,.@-]{1,64}")


def register(app: App, deps: Deps) -> None:
    def refusal(user: str) -> str | None:
        """SPEC §6.2: nobody being or been offboarded rotates keys (suspension is checked by the plan)."""
        with deps.db.session() as session:
            verdict = permissions.rotate_keys(queries.actor_of(session, user, deps.policy))
        return None if verdict.ok else verdict.message

    def open_preview(user: str, target: str, trigger_id: str, channel_id: str | None) -> None:
        opened = open_modal(deps, key_views.loading_modal(target), trigger_id=trigger_id, user=user, channel=channel_id)
        if opened is None:
            return
        view_id = str(opened["view"]["id"])
        deps.dispatcher.enqueue("key_rotation_preview", f"key-preview-{view_id}", user, target, view_id, channel_id)

    @app.command("/rotate-keys")
    def rotate_keys(ack: Ack, command: dict[str, Any]) -> None:
        target = (command.get("text") or "").strip()
        if target and not _IAM_USER.fullmatch(target):
            known = ", ".join(f"`{escape(n)}`" for n in sorted(deps.policy.aws_keys.service_users)) or "none"
            ack(
                text=f"`{escape(target[:80])}` is not an IAM user name. Use `/rotate-keys` for your own keys, or "
                f"`/rotate-keys <service-user>` for a service user ({known})."
            )
            return
        refused = refusal(command["user_id"])
        if refused:
            ack(text=refused)
            return
        ack()
        open_preview(command["user_id"], target, command["trigger_id"], command.get("channel_id"))

    @app.action(key_views.ROTATE_NOW)
    def rotate_now(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        target = str(action.get("value", ""))
        if _IAM_USER.fullmatch(target):
            open_preview(body["user"]["id"], target, body["trigger_id"], channel_of(body))

    @app.action(key_views.DELETE_INACTIVE)
    def delete_inactive(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        view = body.get("view") or {}
        meta = metadata(view)
        key_id = str(action.get("value", ""))
        if not view.get("id") or not re.fullmatch(r"[A-Z0-9]{16,128}", key_id):
            return
        deps.dispatcher.enqueue(
            "delete_inactive_key",
            f"key-delete-inactive-{view['id']}-{key_id}",
            body["user"]["id"],
            str(meta.get("target") or ""),
            key_id,
            str(view["id"]),
            meta.get("channel_id"),
        )

    @app.view(key_views.PREVIEW_CALLBACK)
    def submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        meta = metadata(view)
        iam_user = str(meta.get("iam_user") or "")
        if not iam_user:
            ack()  # the lookup has not finished, or nothing can be rotated: the modal says so
            return
        service = iam_user in deps.policy.aws_keys.service_users  # by the name, never by what the view says
        reason = (modals.state_value(view, "reason") or "").strip()
        refused = refusal(user)
        if refused:
            ack(response_action="update", view=modals.done_modal("Not rotated", escape(refused)))
            return
        if service and meta.get("service") and not reason:  # the view asked for a reason
            ack(response_action="errors", errors={"reason": "Say why, for the owners who approve."})
            return
        with deps.db.session() as session:
            email = queries.email_of(session, user) or ""
        new = new_rotation_request(
            deps.policy,
            iam_user,
            reason,
            requester_slack_id=user,
            requester_email=email,
            channel_id=meta.get("channel_id"),
        )
        req = open_request(deps.db, deps.dispatcher, new)
        ack(response_action="update", view=key_views.requested_modal(req.ref, iam_user, service=service))

    @app.action(key_views.REACTIVATE)
    def reactivate_old(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        request_id = request_id_from(action)
        if request_id is None:
            return
        user = body["user"]["id"]
        outcome = reactivate(deps.db, deps.dispatcher, request_id, user, reply_id(body), deps.clock.now())
        if not outcome.ok:
            reply_later(deps.dispatcher, reply_id(body), user, channel_of(body), outcome.message)
