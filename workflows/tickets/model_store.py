"""Where the team classifier's versions live (table `triage_model`) and which one is live.

`live_model(db, policy)` is what triage uses: the live version's weights, loaded once per version and process.
A process looks at which version is live at most every `RECHECK_SECONDS`, so a model made live by `engops triage
retrain` (or the schedule) in another process is used everywhere within seconds, and a rollback too. A model
trained for other teams than the policy's (a changed policy) is not used: triage falls back to the keywords until
the next retrain.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
import time
from dataclasses import dataclass
from importlib import resources

from sqlmodel import col, select, update

from bot import audit
from bot.db.engine import Database, take_turns
from bot.db.models_triage import TriageModel
from bot.policy import Policy
from workflows.tickets import team_model
from workflows.tickets.team_model import TeamModel

RECHECK_SECONDS = 5.0
LIVE_LOCK = "triage_model.live"
SHIPPED_MODEL = "model.json.z"  # in workflows/tickets/examples/


def teams_fingerprint(policy: Policy) -> str:
    """What a model was trained for: the teams with their keywords, descriptions and examples (not their display
    names, which the model never reads)."""
    teams = {
        key: [list(team.keywords), team.description, list(team.examples), team.default]
        for key, team in policy.teams.items()
    }
    return hashlib.sha256(json.dumps(teams, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class _Cached:
    url: str
    checked_at: float
    version: int | None
    fingerprint: str | None
    model: TeamModel | None


_cache: dict[str, _Cached] = {}
_lock = threading.Lock()


def live_model(db: Database, policy: Policy) -> TeamModel | None:
    """The live model if it was trained for this policy's teams; else the shipped model if the policy's teams are
    the example policy's; else None (triage uses the keywords until `engops triage retrain`)."""
    now = time.monotonic()
    with _lock:
        cached = _cache.get(db.url)
    if cached is None or now - cached.checked_at >= RECHECK_SECONDS:
        cached = _refresh(db, cached, now)
    fingerprint = teams_fingerprint(policy)
    if cached.model is not None and cached.fingerprint == fingerprint:
        return cached.model
    shipped = shipped_model()
    if shipped is not None and shipped.meta.get("teams_fingerprint") == fingerprint:
        return shipped
    return None


@functools.cache
def shipped_model() -> TeamModel | None:
    """The model fitted on the shipped examples for the example policy (`engops triage retrain --ship`)."""
    try:
        blob = resources.files("workflows.tickets.examples").joinpath(SHIPPED_MODEL).read_bytes()
    except FileNotFoundError:
        return None
    return team_model.load(blob)


def _refresh(db: Database, cached: _Cached | None, now: float) -> _Cached:
    with db.session() as session:
        row = session.exec(
            select(TriageModel.id, TriageModel.teams_fingerprint)
            .where(col(TriageModel.live).is_(True))
            .order_by(col(TriageModel.id).desc())
        ).first()
    version, fingerprint = (row[0], row[1]) if row is not None else (None, None)
    if cached is not None and cached.version == version:
        fresh = _Cached(db.url, now, version, fingerprint, cached.model)
    elif version is None:
        fresh = _Cached(db.url, now, None, None, None)
    else:
        with db.session() as session:
            stored = session.get(TriageModel, version)
            blob = stored.weights if stored is not None else None
        model = team_model.load(blob, version) if blob is not None else None
        fresh = _Cached(db.url, now, version, fingerprint, model)
    with _lock:
        _cache[db.url] = fresh
    return fresh


def forget_cached() -> None:
    """Read the live version again on the next classification (after this process changed it)."""
    with _lock:
        _cache.clear()


@dataclass(frozen=True)
class StoredModel:
    version: int
    previous: int | None
    teams_fingerprint: str = ""


def make_live(
    db: Database,
    model: TeamModel,
    *,
    fingerprint: str,
    examples: int,
    corrections: int,
    metrics: dict[str, object],
    trained_by: str,
) -> StoredModel:
    """Store a fitted model as a new version and make it live, in one transaction (audited)."""
    with db.session() as session:
        take_turns(session, LIVE_LOCK)  # a retrain and a rollback (or two retrains) at once: still one live model
        previous = session.exec(
            select(TriageModel.id).where(col(TriageModel.live).is_(True)).order_by(col(TriageModel.id).desc())
        ).first()
        session.execute(update(TriageModel).values(live=False))
        row = TriageModel(
            live=True,
            previous_id=previous,
            teams_fingerprint=fingerprint,
            weights=team_model.dump(model),
            examples=examples,
            corrections=corrections,
            metrics=metrics,
            trained_by=trained_by,
        )
        session.add(row)
        session.flush()
        assert row.id is not None
        audit.append(
            session,
            actor=trained_by or "engops",
            action="triage.model_live",
            detail={"version": row.id, "previous": previous, "examples": examples, "corrections": corrections},
        )
        stored = StoredModel(row.id, previous, fingerprint)
    forget_cached()
    return stored


class NothingToRollBackTo(Exception):
    pass


def roll_back(db: Database, *, by: str) -> StoredModel:
    """Make the model that was live before the live one live again (audited)."""
    with db.session() as session:
        take_turns(session, LIVE_LOCK)
        live = session.exec(
            select(TriageModel).where(col(TriageModel.live).is_(True)).order_by(col(TriageModel.id).desc())
        ).first()
        if live is None:
            raise NothingToRollBackTo("no triage model is live yet: run `engops triage retrain` first")
        target = session.get(TriageModel, live.previous_id) if live.previous_id is not None else None
        if target is None:
            raise NothingToRollBackTo(f"model v{live.id} is the first one: there is no earlier model to go back to")
        live_id = live.id
        session.execute(update(TriageModel).values(live=False))
        target.live = True
        session.add(target)
        audit.append(
            session,
            actor=by,
            action="triage.model_rolled_back",
            detail={"from": live_id, "to": target.id},
        )
        assert target.id is not None
        stored = StoredModel(target.id, live_id, target.teams_fingerprint)
    forget_cached()
    return stored


def history(db: Database) -> list[TriageModel]:
    with db.session() as session:
        return list(session.exec(select(TriageModel).order_by(col(TriageModel.id).desc())).all())
