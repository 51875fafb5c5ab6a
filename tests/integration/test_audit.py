import json

import pytest
from sqlalchemy import text

from bot import audit
from bot.db.engine import Database


def _fill(db: Database, n: int = 5) -> None:
    for i in range(n):
        audit.record(
            db,
            actor=f"user{i}@example.com",
            action="test.action",
            subject=f"s{i}",
            request_id=i + 1,
            detail={"i": i, "note": "ünïcode"},
        )


def test_chain_of_appends_verifies(db: Database) -> None:
    _fill(db)
    result = audit.verify(db)
    assert result.ok and result.checked == 5


def test_changed_entry_is_named(db: Database) -> None:
    _fill(db)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_entry SET actor = 'mallory@example.com' WHERE seq = 3"))
    result = audit.verify(db)
    assert not result.ok and result.first_bad_seq == 3 and "changed" in (result.problem or "")


def test_removed_entry_is_named(db: Database) -> None:
    _fill(db)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entry WHERE seq = 2"))
    result = audit.verify(db)
    assert not result.ok and result.first_bad_seq == 2 and "missing" in (result.problem or "")


def test_removed_tail_is_detected(db: Database) -> None:
    _fill(db)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entry WHERE seq = 5"))
    result = audit.verify(db)
    assert not result.ok and result.first_bad_seq == 5


def test_reordered_entries_are_detected(db: Database) -> None:
    _fill(db)
    with db.engine.begin() as conn:
        # swap the contents of entries 2 and 3 (keeping their seq numbers)
        rows = {r.seq: r for r in conn.execute(text("SELECT * FROM audit_entry WHERE seq IN (2, 3)"))}
        for seq, other in ((2, rows[3]), (3, rows[2])):
            conn.execute(
                text(
                    "UPDATE audit_entry SET actor=:a, action=:b, subject=:c, prev_hash=:p, hash=:h, at=:t WHERE seq=:s"
                ),
                {
                    "a": other.actor,
                    "b": other.action,
                    "c": other.subject,
                    "p": other.prev_hash,
                    "h": other.hash,
                    "t": other.at,
                    "s": seq,
                },
            )
    result = audit.verify(db)
    assert not result.ok and result.first_bad_seq == 2


def test_concurrent_appends_keep_one_chain(db: Database) -> None:
    import threading

    def work(k: int) -> None:
        for i in range(10):
            audit.record(db, actor=f"t{k}", action="concurrent", detail={"i": i})

    threads = [threading.Thread(target=work, args=(k,)) for k in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = audit.verify(db)
    assert result.ok and result.checked == 50


def test_export_jsonl_and_csv(db: Database) -> None:
    _fill(db, 3)
    lines = list(audit.export(db, "jsonl"))
    rows = [json.loads(line) for line in lines]
    assert [r["seq"] for r in rows] == [1, 2, 3]
    assert rows[0]["request_id"] == "REQ-1" and rows[0]["detail"]["note"] == "ünïcode"
    csv_text = "".join(audit.export(db, "csv"))
    assert csv_text.splitlines()[0].startswith("seq,at,actor,action")
    assert len(csv_text.strip().splitlines()) == 4
    with pytest.raises(ValueError):
        list(audit.export(db, "xml"))
