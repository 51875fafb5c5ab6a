"""The correction loop end to end (SPEC §6.4 "Triage learns", §7 `engops triage retrain` / `rollback`): a kind of
request triage files in the wrong tracker is relabelled by a DRI in GitLab; the scheduled retrain (a process of its
own, as in production) learns from the correction; the next request of that kind is filed in the right tracker."""

from __future__ import annotations

from sqlmodel import col, select
from typer.testing import CliRunner

from bot.db.engine import Database
from bot.db.models import TrackedIssue
from bot.db.models_triage import TriageModel
from bot.policy import load_policy
from engops.cli import app as cli
from engops.sandbox.stack import EXAMPLE_POLICY, WEBHOOK_SECRET, Stack
from tests.support.gitlab import OPERATIONS
from tests.support.slack_actions import file_request
from workflows.tickets import model_store
from workflows.tickets.corrections import recorded_corrections

RENAMED = {
    "access-management": "identity",
    "infrastructure": "cloud",
    "integrations": "apps",
    "operations": "workplace",
}
MISROUTED = {"Summary": "Lucidchart seat for the design team", "Details": "3 people need to edit diagrams"}
SAME_KIND = {"Summary": "Lucidchart seats for the design team", "Details": "two designers need to edit diagrams"}


def db_of(stack: Stack) -> Database:
    assert stack.web is not None
    db: Database = stack.web.services.db
    return db


def filed_team(stack: Stack, request_id: int) -> str:
    with db_of(stack).session() as session:
        return session.exec(select(TrackedIssue.team).where(TrackedIssue.request_id == request_id)).one()


def test_a_dri_correction_teaches_triage_the_kind_of_request_it_misrouted(stack: Stack) -> None:
    stack.gitlab.add_webhook(f"{stack.url}/gitlab/webhook", WEBHOOK_SECRET)
    file_request(stack, "alice", MISROUTED)  # "Not sure" of the team: triage decides
    assert filed_team(stack, 1) == "operations"
    file_request(stack, "bob", SAME_KIND)
    assert filed_team(stack, 2) == "operations"  # the same kind of request, the same mistake

    # peggy, an Operations DRI, says it is Access Management's: a seat is access
    stack.gitlab.relabel(OPERATIONS, 1, add=["team::access-management"], remove=["team::operations"], by="peggy")
    assert stack.gitlab.wait_for_webhooks()
    stack.wait_idle()
    db = db_of(stack)
    assert [(c.request_id, c.to_team) for c in recorded_corrections(db)] == [(1, "access-management")]

    stack.run_sweep()  # the schedule finds a correction newer than the live model: `engops triage retrain`
    stack.wait_idle()
    with db.session() as session:
        live = session.exec(select(TriageModel).where(col(TriageModel.live).is_(True))).one()
        assert (live.corrections, live.trained_by) == (1, "schedule")
        assert set(live.metrics) >= {"cv_accuracy_with_corrections", "cv_accuracy_without_corrections"}
    stack.run_sweep()  # nothing new since: no second retrain
    stack.wait_idle()
    assert len(model_store.history(db)) == 1

    model_store.forget_cached()  # what every process does within model_store.RECHECK_SECONDS
    file_request(stack, "carol", SAME_KIND)
    assert filed_team(stack, 3) == "access-management"
    issue = stack.gitlab.issues("bt-engineering/access-manager/issue-tracker")[-1]
    assert "matched:" in issue["description"] and "% sure" in issue["description"]


def test_retrain_and_rollback_from_the_command_line(stack: Stack, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert stack.settings is not None and stack.policy is not None
    monkeypatch.setenv("DATABASE_URL", stack.settings.database_url)
    monkeypatch.setenv("ENGOPS_POLICY", str(stack.settings.engops_policy))
    db = db_of(stack)
    runner = CliRunner()

    refused = runner.invoke(cli, ["triage", "rollback"])
    assert refused.exit_code == 1 and "run `engops triage retrain` first" in refused.output

    first = runner.invoke(cli, ["triage", "retrain", "--by", "grace"])
    assert first.exit_code == 0, first.output
    assert "cross-validated accuracy:" in first.output and "model v1 is live" in first.output
    second = runner.invoke(cli, ["triage", "retrain", "--by", "grace"])
    assert "model v2 is live (was v1)" in second.output

    back = runner.invoke(cli, ["triage", "rollback", "--by", "heidi"])
    assert back.exit_code == 0 and "model v1 is live again (was v2)" in back.output
    live = model_store.live_model(db, stack.policy)
    assert live is not None and live.version == 1
    again = runner.invoke(cli, ["triage", "rollback"])
    assert again.exit_code == 1 and "no earlier model" in again.output


def test_a_policy_of_your_own_is_learnt_from_its_keywords_and_descriptions(stack: Stack, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Team keys the shipped examples do not know: the model learns what the policy says of each team."""
    assert stack.settings is not None
    text = EXAMPLE_POLICY.read_text()
    for old, new in RENAMED.items():
        text = text.replace(old, new)
    own = tmp_path / "own-policy.yaml"
    own.write_text(text)
    policy = load_policy(own)
    monkeypatch.setenv("DATABASE_URL", stack.settings.database_url)
    monkeypatch.setenv("ENGOPS_POLICY", str(own))
    done = CliRunner().invoke(cli, ["triage", "retrain"])
    assert done.exit_code == 0, done.output
    assert "not measured" in done.output and "model v1 is live" in done.output
    model = model_store.live_model(db_of(stack), policy)
    assert model is not None and set(model.teams) == set(RENAMED.values())
    assert model.predict("okta verify push never arrives on my new phone", "").team == "identity"
    assert model.predict("terraform plan fails on the vpc module", "").team == "cloud"


def test_retrain_on_a_database_without_its_tables_says_to_upgrade(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setenv("ENGOPS_POLICY", str(EXAMPLE_POLICY))
    done = CliRunner().invoke(cli, ["triage", "retrain"])
    assert done.exit_code == 2 and "run `engops db upgrade` first" in done.output
