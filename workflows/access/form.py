"""Checks on an access request form against the policy (pure; used for inline modal errors)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from bot.durations import describe_duration, format_duration, parse_optional_duration
from bot.policy import AccessGroup, Policy


@dataclass
class AccessForm:
    group: AccessGroup | None = None
    duration: timedelta | None = None
    duration_text: str = ""  # as the requester wrote it ("8h"); "" for no expiry
    reason: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def check_access_form(
    policy: Policy, group_name: str | None, duration_text: str | None, reason: str | None
) -> AccessForm:
    form = AccessForm(duration_text=(duration_text or "").strip(), reason=(reason or "").strip())
    name = (group_name or "").strip()
    group = policy.group(name) if name else None
    if group is None:
        form.errors["group"] = (
            f"'{name[:60]}' is not a group you can request here." if name else "Choose an Okta group."
        )
    form.group = group
    try:
        form.duration = parse_optional_duration(duration_text)
    except ValueError:
        form.errors["duration"] = "Write a duration like 30m, 8h or 7d."
    if group is not None:
        limit = policy.group_max_duration(group)
        if form.duration is None and group.require_duration and "duration" not in form.errors:
            form.errors["duration"] = f"{group.okta_group} needs a duration" + (
                f" (at most {format_duration(limit)})." if limit else "."
            )
        elif form.duration is not None and limit is not None and form.duration > limit:
            form.errors["duration"] = (
                f"At most {format_duration(limit)} for {group.okta_group} "
                f"(you asked for {describe_duration(form.duration)})."
            )
    if not form.reason:
        form.errors["reason"] = "Say why you need this access."
    return form


def duration_hint(policy: Policy) -> str:
    default = policy.access.defaults.max_duration
    return f"e.g. 8h or 2d; at most {format_duration(default)} unless the group says less" if default else "e.g. 8h"
