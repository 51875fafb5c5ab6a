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
    assert audit.seal(db) == n


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

    def sealer() -> None:
        while not done.is_set():
            audit.seal(db)

    done = threading.Event()
    threads = [threading.Thread(target=work, args=(k,)) for k in range(5)]
    sealers = [threading.Thread(target=sealer) for _ in range(2)]  # as two workers would, while appends go on
    for t in threads + sealers:
        t.start()
    for t in threads:
        t.join()
    done.set()
    for t in sealers:
        t.join()
    result = audit.verify(db)
    assert result.ok and result.checked == 50
    exported = [json.loads(line) for line in audit.export(db, "jsonl")]
    assert sorted(row["detail"]["i"] for row in exported if row["actor"] == "t3") == list(range(10))


def test_an_audited_change_does_not_wait_for_the_sealer(db: Database) -> None:
    """While a sealer holds the chain's head, an audited change still commits at once (with a wait too short to
    queue behind it): the ack path's writes share no lock with each other or with the sealer."""
    if db.is_sqlite:
        pytest.skip("SQLite has one writer at a time by design")
    quick = Database(db.url, wait=0.5)
    try:
        with db.engine.begin() as holder:
            holder.execute(text("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE"))
            audit.record(quick, actor="alice@example.com", action="request.created", request_id=7)
            assert audit.seal(quick) == 0  # the head is taken: nothing waits, nothing is chained twice
        assert audit.seal(db) == 1
        [entry] = list(audit.iter_entries(db))
        assert (entry.actor, entry.action, entry.request_id) == ("alice@example.com", "request.created", 7)
    finally:
        quick.dispose()


def test_entries_are_chained_in_the_order_they_were_written(db: Database) -> None:
    for i in range(3):
        audit.record(db, actor="a@example.com", action="ordered", detail={"i": i})
    assert [row.detail["i"] for row in audit.iter_entries(db)] == [0, 1, 2]
    assert audit.seal(db) == 0  # nothing waits any more


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
