"""The daily key-age scan (SPEC §6.3): active access keys older than `aws_keys.max_age` get their owner a DM
with **Rotate now** (the person, found by the IAM user's `email` tag, or a service user's owners), and
role:it-admins get one summary.

Once a day at SCAN_HOUR UTC, decided by a row (so any number of workers scan once). The first scan comes
a day after the first start, so a fresh install is not announced to everyone while it is being set up.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from bot import audit
from bot.db.engine import take_turns
from bot.db.models_keys import KeyRotation, KeyScanState
from bot.durations import format_duration
from bot.policy import ADMIN_ROLE
from bot.providers.aws import AccessKey
from bot.slack import key_views
from workflows.engine import identity, people, runtime
from workflows.engine.durable import durable, step
from workflows.engine.handover import promise
from workflows.engine.sweep import Job, due_handler
from workflows.keys.rules import IN_PROGRESS

SCAN_HOUR = 9  # UTC


def next_scan_after(moment: datetime) -> datetime:
    """The first SCAN_HOUR:00 UTC strictly after `moment`."""
    at = moment.replace(hour=SCAN_HOUR, minute=0, second=0, microsecond=0)
    return at if at > moment else at + timedelta(days=1)


@due_handler("key_rotation.daily_scan")
def daily_scan_due(now: datetime) -> list[Job]:
    with runtime.current().db.session() as session:
        take_turns(session, "key_scan_state")  # two sweeps at once would both insert the first row
        state = session.get(KeyScanState, 1)
        if state is None:
            session.add(KeyScanState(id=1, next_run_at=next_scan_after(now + timedelta(days=1))))
            return []
        if state.next_run_at > now:
            return []
        claimed = session.execute(
            update(KeyScanState)
            .where(col(KeyScanState.id) == 1, col(KeyScanState.next_run_at) == state.next_run_at)
            .values(last_run_at=now, next_run_at=next_scan_after(now))
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return []
        # promised with the claim: a sweep killed before it starts the scan leaves it to the next one
        return [promise(session, "key_age_scan", f"key-scan-{now:%Y-%m-%dT%H:%M}", now.isoformat())]


def _key(data: dict[str, Any]) -> AccessKey:
    last = data.get("last_used")
    return AccessKey(
        id=str(data["id"]),
        status="Active",
        created=datetime.fromisoformat(str(data["created"])),
        last_used=datetime.fromisoformat(str(last)) if last else None,
    )


def _owner_of(iam_user: str, tagged: str | None) -> list[str]:
    """The person whose IAM user it is: by its email tag, else by name (only when the forward rule agrees)."""
    rt = runtime.current()
    if tagged:
        return [tagged]
    guess = iam_user if "@" in iam_user else f"{iam_user}@{rt.policy.org.email_domain}"
    return [guess.lower()] if identity.iam_user_of(guess) == iam_user else []


@step("workflows.key_scan._find_old_keys", retries_allowed=True, max_attempts=3, interval_seconds=5.0)
def _find_old_keys(now_iso: str) -> list[dict[str, Any]]:
    """[{iam_user, service, owners, keys: [{id, created, last_used}]}]; keys already being retired are left out."""
    rt = runtime.current()
    now = datetime.fromisoformat(now_iso)
    rules = rt.policy.aws_keys
    aws = rt.require_aws()
    with rt.db.session() as session:
        retiring = set(session.exec(select(KeyRotation.old_key_id).where(col(KeyRotation.status).in_(IN_PROGRESS))))
    findings: list[dict[str, Any]] = []
    for user in aws.list_users():
        old = [
            k
            for k in aws.list_keys(user.name)
            if k.status == "Active" and now - k.created > rules.max_age and k.id not in retiring
        ]
        if not old:
            continue
        service = rules.service_users.get(user.name)
        owners = [o.lower() for o in service.owners] if service else _owner_of(user.name, user.email)
        findings.append(
            {
                "iam_user": user.name,
                "service": service is not None,
                "owners": owners,
                "keys": [
                    {
                        "id": k.id,
                        "created": k.created.isoformat(),
                        "last_used": k.last_used.isoformat() if k.last_used else None,
                    }
                    for k in old
                ],
            }
        )
    return findings


@step("workflows.key_scan._nudge", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _nudge(finding: dict[str, Any], now_iso: str) -> list[str]:
    """DM the owners of one IAM user's old keys with Rotate now; returns whom it reached."""
    rt = runtime.current()
    max_age = format_duration(rt.policy.aws_keys.max_age)
    iam_user = str(finding["iam_user"])
    blocks = key_views.nudge_blocks(
        iam_user=iam_user,
        service=bool(finding["service"]),
        keys=[_key(k) for k in finding["keys"]],
        max_age=max_age,
        now=datetime.fromisoformat(now_iso),
    )
    told = []
    for email in finding["owners"]:
        slack_id = people.slack_id_of(str(email))
        if slack_id:
            rt.slack.dm(slack_id, key_views.nudge_text(iam_user, max_age), blocks)
            told.append(str(email))
    return told


@step("workflows.key_scan._summarise", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _summarise(findings: list[dict[str, Any]], told: list[list[str]], now_iso: str) -> None:
    rt = runtime.current()
    max_age = format_duration(rt.policy.aws_keys.max_age)
    rows = [(str(f["iam_user"]), [_key(k) for k in f["keys"]], t) for f, t in zip(findings, told, strict=True)]
    text = key_views.scan_summary(rows, max_age, datetime.fromisoformat(now_iso))
    for admin in people.role_holders(ADMIN_ROLE):
        slack_id = people.slack_id_of(admin)
        if slack_id:
            rt.slack.dm(slack_id, text)
    audit.record(
        rt.db,
        actor="engops-bot",
        action="aws_keys.age_scan",
        detail={
            "old_keys": {str(f["iam_user"]): [k["id"] for k in f["keys"]] for f in findings},
            "told": {str(f["iam_user"]): t for f, t in zip(findings, told, strict=True)},
        },
    )


@durable("key_age_scan")
def key_age_scan(now_iso: str) -> None:
    findings = _find_old_keys(now_iso)
    if not findings:
        return
    told = [_nudge(finding, now_iso) for finding in findings]
    _summarise(findings, told, now_iso)
