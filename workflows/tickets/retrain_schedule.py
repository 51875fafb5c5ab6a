"""The scheduled retrain of the team classifier (SPEC §6.4 "Triage learns"), durable.

The sweep asks once a minute; a retrain is due when corrections were recorded after the live model was made,
or when no model fits the policy's teams (a policy of your own, or one whose teams changed) — at most once a day
either way (the workflow id names the day, so a day's retrain runs once however many workers sweep). The
training itself runs `engops triage retrain` in a process of its own: the serving processes never load the
training library. A retrain that fails is tried again (DBOS step retries), then waits for the next day.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select

from bot.db.models_triage import TriageCorrection, TriageModel
from workflows.engine import runtime
from workflows.engine.durable import durable, step
from workflows.engine.sweep import Job, due_handler
from workflows.tickets.model_store import shipped_model, teams_fingerprint

log = logging.getLogger(__name__)

AT_MOST_EVERY = timedelta(days=1)
TRAINING_TIMEOUT_SECONDS = 30 * 60


@due_handler("triage.retrain")
def retrain_when_due(now: datetime) -> list[Job]:
    rt = runtime.current()
    fingerprint = teams_fingerprint(rt.policy)
    with rt.db.session() as session:
        live = session.exec(
            select(TriageModel.teams_fingerprint)
            .where(col(TriageModel.live).is_(True))
            .order_by(col(TriageModel.id).desc())
        ).first()
        # measured from the newest model made for these teams, not the live one: a rollback stays until new
        # corrections come in, rather than being retrained away the next day on the ones it rolled back from
        made_at = session.exec(
            select(func.max(TriageModel.created_at)).where(TriageModel.teams_fingerprint == fingerprint)
        ).one()
        latest_correction = session.exec(select(func.max(TriageCorrection.created_at))).one()
    fits = live is not None and live == fingerprint
    shipped = shipped_model()
    shipped_fits = shipped is not None and shipped.meta.get("teams_fingerprint") == fingerprint
    corrected_since = latest_correction is not None and (made_at is None or latest_correction > made_at)
    if fits or shipped_fits:
        if not corrected_since:
            return []
        if made_at is not None and now - made_at < AT_MOST_EVERY:
            return []
    return [("triage_retrain", f"triage-retrain-{fingerprint}-{now:%Y%m%d}", [])]


@durable("triage_retrain")
def triage_retrain() -> None:
    _train_in_own_process()


@step("workflows.tickets.retrain._train", retries_allowed=True, max_attempts=3, interval_seconds=60.0)
def _train_in_own_process() -> None:
    settings = runtime.current().settings
    env = dict(os.environ, DATABASE_URL=settings.database_url, ENGOPS_POLICY=str(settings.engops_policy))
    command = [sys.executable, "-m", "engops.cli", "triage", "retrain", "--by", "schedule"]
    done = subprocess.run(  # noqa: S603 - our own command, no user input
        command, env=env, capture_output=True, text=True, timeout=TRAINING_TIMEOUT_SECONDS, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"engops triage retrain exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    log.info("scheduled retrain: %s", done.stdout.strip().replace("\n", "; "))
