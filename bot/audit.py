"""Append-only, hash-chained audit log.

Each entry's hash covers the previous entry's hash and its own canonical JSON, so a changed,
removed or reordered entry breaks the chain at that point. Appends are serialised by
updating the single `audit_head` row, which takes the write lock on every backend; they are
chained at commit, so that lock is held as briefly as possible.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, update
from sqlmodel import Session, col, select

from bot.db.engine import Database
from bot.db.models import AuditEntry, AuditHead
from bot.db.types import utcnow

GENESIS = "0" * 64


def _canonical(
    seq: int, at: datetime, actor: str, action: str, subject: str, request_id: int | None, detail: dict[str, Any]
) -> str:
    return json.dumps(
        {
            "seq": seq,
            "at": at.isoformat(timespec="microseconds"),
            "actor": actor,
            "action": action,
            "subject": subject,
            "request_id": request_id,
            "detail": detail,
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )


def entry_hash(prev_hash: str, entry: AuditEntry) -> str:
    body = _canonical(entry.seq, entry.at, entry.actor, entry.action, entry.subject, entry.request_id, entry.detail)
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    subject: str = "",
    request_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add one entry to the caller's transaction (it commits with the change it records, or not at all)."""
    append_many(
        session, [{"actor": actor, "action": action, "subject": subject, "request_id": request_id, "detail": detail}]
    )


def append_many(session: Session, entries: list[dict[str, Any]]) -> None:
    """Several entries (each the keyword arguments of `append`).

    They are numbered and hashed just before the transaction commits (`_chain`): the head row is the one lock
    every audited change shares, so it is taken last and held only for the commit itself. (Taken where the
    entry was added, a transaction held it for all its remaining statements; on PostgreSQL every other
    audited change — Slack's ack path included — queued behind that.)"""
    pending = session.info.setdefault(_PENDING, [])
    for fields in entries:
        pending.append(
            {**fields, "at": utcnow(), "detail": json.loads(json.dumps(fields.get("detail") or {}, default=str))}
        )


_PENDING = "audit_pending"


@event.listens_for(Session, "before_commit")
def _chain(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    # Everything else this transaction writes goes out first, so that no other lock is waited for while the
    # head is held: a transaction holding the head while it queued for a request row made every audited change,
    # the ack path's too, wait behind that row's holder (and, when the holder then wanted the head, deadlock).
    session.flush()
    # The head row is created by the first migration; updating it takes the write lock.
    session.execute(update(AuditHead).where(col(AuditHead.id) == 1).values(seq=AuditHead.seq + len(pending)))
    head = session.exec(select(AuditHead).where(AuditHead.id == 1)).one()
    session.refresh(head)
    seq, prev = head.seq - len(pending), head.hash
    for fields in pending:
        seq += 1
        entry = AuditEntry(
            seq=seq,
            at=fields["at"],
            actor=fields["actor"],
            action=fields["action"],
            subject=fields.get("subject") or "",
            request_id=fields.get("request_id"),
            detail=fields["detail"],
            prev_hash=prev,
            hash="",
        )
        entry.hash = prev = entry_hash(prev, entry)
        session.add(entry)
    head.hash = prev
    session.add(head)
    session.flush()


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)


def record(db: Database, **kwargs: Any) -> None:
    """Append in a transaction of its own."""
    with db.session() as session:
        append(session, **kwargs)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    problem: str | None = None
    first_bad_seq: int | None = None


def verify(db: Database) -> VerifyResult:
    prev = GENESIS
    expected_seq = 1
    checked = 0
    with db.session() as session:
        head = session.get(AuditHead, 1)
        for entry in session.exec(select(AuditEntry).order_by(col(AuditEntry.seq))):
            if entry.seq != expected_seq:
                return VerifyResult(
                    False, checked, f"entry {expected_seq} is missing (next is {entry.seq})", expected_seq
                )
            if entry.prev_hash != prev:
                return VerifyResult(
                    False,
                    checked,
                    f"entry {entry.seq} does not follow entry {entry.seq - 1} (removed or reordered)",
                    entry.seq,
                )
            if entry_hash(prev, entry) != entry.hash:
                return VerifyResult(False, checked, f"entry {entry.seq} was changed", entry.seq)
            prev = entry.hash
            expected_seq += 1
            checked += 1
        if head is not None and (head.seq != checked or (checked and head.hash != prev)):
            return VerifyResult(
                False, checked, f"entries after {checked} were removed (the log had {head.seq})", checked + 1
            )
    return VerifyResult(True, checked)


def iter_entries(db: Database, since: datetime | None = None) -> Iterator[AuditEntry]:
    with db.session() as session:
        query = select(AuditEntry).order_by(col(AuditEntry.seq))
        if since is not None:
            query = query.where(col(AuditEntry.at) >= since)
        yield from session.exec(query)


EXPORT_FIELDS = ("seq", "at", "actor", "action", "subject", "request_id", "detail", "prev_hash", "hash")


def export_row(entry: AuditEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "subject": entry.subject,
        "request_id": f"REQ-{entry.request_id}" if entry.request_id else None,
        "detail": entry.detail,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def export(db: Database, fmt: str, since: datetime | None = None) -> Iterator[str]:
    """Lines of JSONL, or CSV text chunks with a header, oldest first."""
    if fmt == "jsonl":
        for entry in iter_entries(db, since):
            yield json.dumps(export_row(entry), sort_keys=True) + "\n"
        return
    if fmt != "csv":
        raise ValueError(f"unknown format {fmt!r} (jsonl or csv)")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    yield buf.getvalue()
    for entry in iter_entries(db, since):
        buf.seek(0)
        buf.truncate()
        row = export_row(entry)
        row["detail"] = json.dumps(row["detail"], sort_keys=True)
        writer.writerow(row)
        yield buf.getvalue()
