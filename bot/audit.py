"""Append-only, hash-chained audit log.

Each entry's hash covers the previous entry's hash and its own canonical JSON, so a changed,
removed or reordered entry breaks the chain at that point.

An entry is written into `audit_inbox` in the transaction of the change it records, so it commits
with that change or not at all, and no lock is shared between audited changes. The sealer (`seal`,
run by every worker a moment apart, and before `verify` and `export`) chains inbox entries in id
order under the `audit_head` row's lock and removes them from the inbox. (Chaining at commit made
the head row the one lock every audited change shared; under a burst on PostgreSQL Slack's ack path
queued behind it past its deadline.)
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

from sqlmodel import Session, col, select

from bot.db.engine import Database
from bot.db.models import AuditEntry, AuditHead, AuditInbox
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
    """Several entries (each the keyword arguments of `append`)."""
    for fields in entries:
        session.add(
            AuditInbox(
                at=utcnow(),
                actor=fields["actor"],
                action=fields["action"],
                subject=fields.get("subject") or "",
                request_id=fields.get("request_id"),
                detail=json.loads(json.dumps(fields.get("detail") or {}, default=str)),
            )
        )


def details_recorded(session: Session, request_id: int, actions: tuple[str, ...]) -> list[dict[str, Any]]:
    """The details of a request's entries with these actions, chained or still waiting in the inbox. The inbox is
    read first: a sealer that commits between the two reads moves an entry into the chain, where the second read
    finds it (read the other way round, it would be in neither; found twice is harmless)."""
    waiting = select(AuditInbox.detail).where(AuditInbox.request_id == request_id, col(AuditInbox.action).in_(actions))
    chained = select(AuditEntry.detail).where(AuditEntry.request_id == request_id, col(AuditEntry.action).in_(actions))
    return [*session.exec(waiting), *session.exec(chained)]


SEAL_BATCH = 500


def seal(db: Database, *, wait: bool = False) -> int:
    """Chain what the inbox holds; the number of entries chained. Without `wait`, returns at once when another
    sealer holds the head (it chains these too, or the next one does); with it, everything committed before the
    call is chained when it returns."""
    sealed = 0
    while True:
        with db.session() as session:
            head = _take_head(session, wait=wait)
            if head is None:
                return sealed
            waiting = list(session.exec(select(AuditInbox).order_by(col(AuditInbox.id)).limit(SEAL_BATCH)))
            seq, prev = head.seq, head.hash
            for waiting_entry in waiting:
                seq += 1
                entry = AuditEntry(
                    seq=seq,
                    at=waiting_entry.at,
                    actor=waiting_entry.actor,
                    action=waiting_entry.action,
                    subject=waiting_entry.subject,
                    request_id=waiting_entry.request_id,
                    detail=waiting_entry.detail,
                    prev_hash=prev,
                    hash="",
                )
                entry.hash = prev = entry_hash(prev, entry)
                session.add(entry)
                session.delete(waiting_entry)
            head.seq, head.hash = seq, prev
            session.add(head)
        sealed += len(waiting)
        if len(waiting) < SEAL_BATCH:
            return sealed


def _take_head(session: Session, *, wait: bool) -> AuditHead | None:
    """The head row, locked for this transaction; None when another sealer has it and `wait` is false
    (PostgreSQL). On SQLite the transaction already holds the database's write lock."""
    query = select(AuditHead).where(AuditHead.id == 1)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=not wait)
    return session.exec(query).first()


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
    """Seal what waits, then check the chain up to the head (entries a concurrent sealer adds after the head
    was read are checked next time)."""
    seal(db, wait=True)
    prev = GENESIS
    expected_seq = 1
    checked = 0
    with db.session() as session:
        head = session.get(AuditHead, 1)
        query = select(AuditEntry).order_by(col(AuditEntry.seq))
        if head is not None:
            query = query.where(col(AuditEntry.seq) <= head.seq)
        for entry in session.exec(query):
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
    """The chain, oldest first, after sealing what waits."""
    seal(db, wait=True)
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
