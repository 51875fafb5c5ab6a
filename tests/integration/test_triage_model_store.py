"""The team classifier's versions: one live model whatever runs at once, rollback to the one before."""

from __future__ import annotations

import threading

from sqlmodel import col, select

from bot.db.engine import Database
from bot.db.models_triage import TriageModel
from workflows.tickets import model_store
from workflows.tickets.team_model import TeamModel

MODEL = TeamModel(0, ("a", "b"), (), {}, {"w:x": 1.0}, {"w:x": [1.0, -1.0]}, [0.0, 0.0])


def live_ids(db: Database) -> list[int | None]:
    with db.session() as session:
        return list(session.exec(select(TriageModel.id).where(col(TriageModel.live).is_(True))).all())


def store(db: Database, by: str) -> None:
    model_store.make_live(db, MODEL, fingerprint="f", examples=1, corrections=0, metrics={}, trained_by=by)


def test_retrains_and_rollbacks_at_once_leave_one_live_model(db: Database) -> None:
    store(db, "first")
    store(db, "second")
    errors: list[BaseException] = []

    def run(work: object) -> None:
        try:
            work()  # type: ignore[operator]
        except model_store.NothingToRollBackTo:
            pass
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    jobs = [lambda: store(db, "a"), lambda: model_store.roll_back(db, by="b"), lambda: store(db, "c")] * 3
    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(live_ids(db)) == 1


def test_rollback_goes_to_the_model_live_before(db: Database) -> None:
    store(db, "first")
    store(db, "second")
    back = model_store.roll_back(db, by="heidi")
    assert (back.version, back.previous) == (1, 2)
    assert live_ids(db) == [1]
