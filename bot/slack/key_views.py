"""Block Kit for AWS key rotation (pure builders): the preview modal, the rotation notice with
**Reactivate old key**, the key-age nudge with **Rotate now**, and the admins' scan summary.

Only key ids, ages, secret names and ARNs ever appear here: a secret access key never reaches Slack.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.db.models_keys import KeyRotation
from bot.durations import format_duration
from bot.permissions import ROTATION_REACTIVATABLE
from bot.policy import AwsKeys
from bot.providers.aws import AccessKey
from bot.slack.cards import when
from bot.slack.escape import escape, truncate
from bot.slack.modals import done_modal

PREVIEW_CALLBACK = "rotate_keys_preview"
ROTATE_NOW = "key_rotate_now"
REACTIVATE = "key_reactivate_old"
DELETE_INACTIVE = "key_delete_inactive"
REACTIVATABLE = ROTATION_REACTIVATABLE  # the button shows while bot.permissions would let it act


def _plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, 2900)}}


def _button(action_id: str, label: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {"type": "button", "action_id": action_id, "text": _plain(label), "value": value}
    if style:
        button["style"] = style
    return button


def age_days(created: datetime, now: datetime) -> int:
    return max(0, (now - created).days)


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def _ago(moment: datetime, now: datetime) -> str:
    days = age_days(moment, now)
    return "today" if days == 0 else f"{_days(days)} ago"


def key_line(key: AccessKey, now: datetime) -> str:
    """ "`AKIA…` · Active · 95 days old (created 2026-08-24) · last used 20 days ago"."""
    used = f"last used {_ago(key.last_used, now)}" if key.last_used else "never used"
    return (
        f"`{escape(key.id)}` · {key.status} · {_days(age_days(key.created, now))} old "
        f"(created {key.created:%Y-%m-%d}) · {used}"
    )


def _modal(
    title: str, blocks: list[dict[str, Any]], *, metadata: dict[str, Any] | None = None, submit: str | None = None
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": PREVIEW_CALLBACK,
        "title": _plain(truncate(title, 24)),
        "close": _plain("Cancel" if submit else "Close"),
        "private_metadata": json.dumps(metadata or {}),
        "blocks": blocks,
    }
    if submit:
        view["submit"] = _plain(submit)
    return view


def loading_modal(target: str) -> dict[str, Any]:
    """Opened at once (the trigger lasts 3 s); the preview replaces it when the AWS lookups are done."""
    who = f"`{escape(target)}`" if target else "your IAM user"
    return _modal("Rotate AWS keys", [_section(f":hourglass_flowing_sand: Looking up the access keys of {who}…")])


def message_modal(text: str) -> dict[str, Any]:
    return _modal("Rotate AWS keys", [_section(text)])


def preview_modal(
    *,
    iam_user: str,
    service: bool,
    owners: Sequence[str],
    keys: Sequence[AccessKey],
    refusal: str | None,
    inactive_key: str | None,
    rules: AwsKeys,
    target: str,
    channel_id: str | None,
    now: datetime,
    notice: str | None = None,
) -> dict[str, Any]:
    """What /rotate-keys will do, before anything changes; without a submit button when it cannot be done."""
    kind = "service user" if service else "IAM user"
    blocks = [_section(f"*Rotate the access keys of {kind} `{escape(iam_user)}`*")]
    if notice:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(notice)}]})
    listed = "\n".join(f"• {key_line(k, now)}" for k in keys) or "• none"
    blocks.append(_section(f"*Current access keys*\n{listed}"))
    metadata = {"iam_user": iam_user, "service": service, "target": target, "channel_id": channel_id}
    if refusal:
        blocks.append(_section(f":no_entry: {escape(refusal)}"))
        if inactive_key:
            blocks.append(
                {
                    "type": "actions",
                    "block_id": "inactive_key",
                    "elements": [_button(DELETE_INACTIVE, "Delete inactive key", inactive_key, "danger")],
                }
            )
        return _modal("Rotate AWS keys", blocks, metadata=metadata)
    secret = escape(rules.secret_name.format(user=iam_user))
    steps = [
        f"create a new access key and store it in Secrets Manager as `{secret}`; you get the secret's "
        "name in a DM, never the key itself"
    ]
    active = [k for k in keys if k.status == "Active"]
    if keys:
        old = ", ".join(f"`{escape(k.id)}`" for k in keys)
        if active:
            steps.append(
                f"deactivate {old} after {format_duration(rules.deactivate_after)} (later if it is "
                "still used after the new key exists)"
            )
        steps.append(f"delete {old} after {format_duration(rules.delete_after)}")
        steps.append("until then, *Reactivate old key* rolls the rotation back")
    blocks.append(_section("*What happens*\n" + "\n".join(f"• {s}" for s in steps)))
    if service:
        approvers = ", ".join(escape(o) for o in owners) or "role:it-admins"
        blocks.append(
            _section(
                f"*Approval*\nOne of the owners approves first ({approvers}; never the requester: "
                "when you are the only owner, IT admins approve)."
            )
        )
    reason: dict[str, Any] = {
        "type": "input",
        "block_id": "reason",
        "label": _plain("Reason"),
        "optional": not service,
        "element": {
            "type": "plain_text_input",
            "action_id": "reason",
            "max_length": 500,
            "placeholder": _plain("e.g. quarterly rotation, key exposed"),
        },
    }
    blocks.append(reason)
    return _modal("Rotate AWS keys", blocks, metadata=metadata, submit="Ask for approval" if service else "Rotate")


def requested_modal(ref: str, iam_user: str, *, service: bool) -> dict[str, Any]:
    """The preview, once submitted: a service user's rotation waits for an owner; your own has started."""
    if service:
        text = (
            f"*{ref}* waits for an owner of `{escape(iam_user)}` to approve. I'll DM you as it moves; "
            f"`/engops status {ref}` shows where it stands."
        )
        return done_modal("Rotation requested", text)
    text = (
        f"*{ref}*: rotating the keys of `{escape(iam_user)}` now. I'll DM you the name of the "
        "Secrets Manager secret that holds the new key."
    )
    return done_modal("Rotation started", text)


# --- after the new key exists -----------------------------------------------------------------------------------
def _rotation_state(rot: KeyRotation, rules: AwsKeys) -> str:
    old = f"`{escape(rot.old_key_id or '')}`"
    if rot.status in ("grace", "deactivating"):
        postponed = (
            f" Deactivation was postponed {rot.postponed} time(s): the old key was still in use after "
            "the new key was created."
            if rot.postponed
            else ""
        )
        deleted = f" and deleted {format_duration(rules.delete_after)} after the rotation" if rot.postponed == 0 else ""
        return (
            f"The old key {old} stays active until {when(rot.deactivate_at)}; then it is deactivated (later if "
            f"it is still in use){deleted}.{postponed}"
        )
    if rot.status in ("deactivated", "deleting"):
        return f"The old key {old} was deactivated {when(rot.deactivated_at)}; it is deleted {when(rot.delete_at)}."
    if rot.status == "done":
        return (
            f"The old key {old} was deleted {when(rot.finished_at)}. The rotation is complete."
            if rot.old_key_id
            else "There was no old key to retire. The rotation is complete."
        )
    if rot.status == "reactivating":
        return f"Reactivating the old key {old} (requested by {escape(rot.rolled_back_by or '')})…"
    if rot.status == "rolled_back":
        return (
            f"Rolled back by {escape(rot.rolled_back_by or '')} {when(rot.finished_at)}: the old key {old} is "
            "active again, both keys stay, and the rest of this rotation is cancelled."
        )
    return ""


def notice_text(ref: str, rot: KeyRotation) -> str:
    return f"{ref}: new AWS access key for {rot.iam_user}, stored in Secrets Manager as {rot.secret_name}"


def notice_blocks(ref: str, rot: KeyRotation, rules: AwsKeys) -> list[dict[str, Any]]:
    """The DM telling where the new key is (the secret's name and ARN only), with Reactivate old key."""
    kind = "service user" if rot.service_user else "IAM user"
    blocks = [
        _section(f"*{ref} · AWS key rotation of {kind} `{escape(rot.iam_user)}`*"),
        _section(
            f"The new access key `{escape(rot.new_key_id or '')}` is stored in Secrets Manager as "
            f"`{escape(rot.secret_name)}`\n`{escape(rot.secret_arn or '')}`\nRead it from there (its "
            "`AccessKeyId` and `SecretAccessKey` fields); the key itself is never sent in Slack."
        ),
        _section(_rotation_state(rot, rules)),
    ]
    if rot.status in REACTIVATABLE and rot.old_key_id:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"key-rotation-{rot.request_id}",
                "elements": [_button(REACTIVATE, "Reactivate old key", str(rot.request_id), "danger")],
            }
        )
    return blocks


# --- the daily key-age scan -------------------------------------------------------------------------------------
def nudge_text(iam_user: str, max_age: str) -> str:
    return f"AWS access keys of {iam_user} are older than {max_age}: please rotate them"


def nudge_blocks(
    *, iam_user: str, service: bool, keys: Sequence[AccessKey], max_age: str, now: datetime
) -> list[dict[str, Any]]:
    name = escape(iam_user)
    whose = f"the service user `{name}`, which you own," if service else f"your IAM user `{name}`"
    listed = "\n".join(f"• {key_line(k, now)}" for k in keys)
    return [
        _section(
            f":key: An access key of {whose} is older than {escape(max_age)} (the policy's `max_age`):\n"
            f"{listed}\nRotating makes a new key in Secrets Manager and retires the old one after a grace "
            "period."
        ),
        {
            "type": "actions",
            "block_id": f"rotate-{iam_user}"[:255],
            "elements": [_button(ROTATE_NOW, "Rotate now", iam_user, "primary")],
        },
    ]


def scan_summary(
    findings: Sequence[tuple[str, Sequence[AccessKey], Sequence[str]]], max_age: str, now: datetime
) -> str:
    """One line per IAM user with old keys: (iam user, old keys, who was told)."""
    count = sum(len(keys) for _, keys, _ in findings)
    lines = [f"*Daily AWS key-age scan:* {count} active access key(s) older than {escape(max_age)}"]
    for iam_user, keys, told in findings:
        ages = ", ".join(f"`{escape(k.id)}` {_days(age_days(k.created, now))}" for k in keys)
        who = (
            ("told " + ", ".join(escape(t) for t in told))
            if told
            else (
                "*nobody told*: no owner in Slack (tag the IAM user `email=<owner>` or list it under "
                "`aws_keys.service_users`)"
            )
        )
        lines.append(f"• `{escape(iam_user)}`: {ages} — {who}")
    return truncate("\n".join(lines), 2900)
