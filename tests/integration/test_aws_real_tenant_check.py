"""`engops check --live` against AWS as a real account answers it (issue 15): which region is in use (the
standard chain, not a forced us-east-1), and, by IAM policy simulation, each IAM or Secrets Manager action the bot
calls that the principal may not do, one line each."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bot.providers.aws import IAM_ACCOUNT_ACTIONS, IAM_USER_ACTIONS, SECRET_ACTIONS
from engops.sandbox.aws import ACCOUNT_ID, AwsFaults, sandbox_client
from engops.sandbox.stack import Stack
from tests.support.cli import ENGOPS

ACTIONS = [*IAM_ACCOUNT_ACTIONS, *IAM_USER_ACTIONS, *SECRET_ACTIONS]  # what the bot calls; the README grants these


README = Path(__file__).resolve().parents[2] / "README.md"


def least_privilege_policy(region: str = "*") -> dict[str, Any]:
    """The README's policy (Permissions → AWS) as a person would fill it in, for the bot's own IAM user."""
    section = README.read_text()[README.read_text().index("### AWS") :]
    start = section.index("```json") + len("```json")
    filled = section[start : section.index("```", start)].replace("ACCOUNT_ID", ACCOUNT_ID).replace("REGION", region)
    policy: dict[str, Any] = json.loads(filled.replace(":role/engops-bot", ":user/engops-bot"))
    granted = [
        a for st in policy["Statement"] for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    ]
    assert sorted(granted) == sorted([*ACTIONS, "iam:SimulatePrincipalPolicy"]), "the README's policy drifted"
    return policy


def bot_principal(stack: Stack, *policies: dict[str, Any]) -> dict[str, str]:
    """An IAM user `engops-bot` with these inline policies; the environment that makes the bot act as it."""
    assert stack.moto is not None
    iam = sandbox_client("iam", stack.moto.url)
    iam.create_user(UserName="engops-bot")
    for n, policy in enumerate(policies):
        iam.put_user_policy(UserName="engops-bot", PolicyName=f"engops-{n}", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="engops-bot")["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


def check_live(stack: Stack, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`engops check --live` with no AWS settings but the stack's endpoint and `env` (no region unless given)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SLACK_", "OKTA_", "GOOGLE_", "GITLAB_"))}
    stack_env = {k: v for k, v in stack.env.items() if not k.startswith("AWS_") or k == "AWS_ENDPOINT_URL"}
    return subprocess.run(
        [*ENGOPS, "check", "--live"],
        env={**base, **stack_env, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def aws_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stdout.splitlines() if line[5:].startswith("aws:")]


# --- region ----------------------------------------------------------------------------------------------------


def test_the_profile_region_is_used_and_said(stack: Stack, tmp_path: Path) -> None:
    config = tmp_path / "aws-config"
    config.write_text("[profile engops]\nregion = eu-west-1\n")
    env = bot_principal(stack, least_privilege_policy("eu-west-1"))
    result = check_live(stack, {**env, "AWS_CONFIG_FILE": str(config), "AWS_PROFILE": "engops"})
    lines = aws_lines(result)
    assert f"ok   aws: arn:aws:iam::{ACCOUNT_ID}:user/engops-bot, region eu-west-1 (from profile engops)" in lines
    assert not [line for line in lines if line.startswith("FAIL")], lines  # secrets simulated in eu-west-1


def test_aws_region_is_honoured_over_the_profile(stack: Stack, tmp_path: Path) -> None:
    config = tmp_path / "aws-config"
    config.write_text("[profile engops]\nregion = eu-west-1\n")
    env = bot_principal(stack, least_privilege_policy("eu-west-1"))
    result = check_live(
        stack, {**env, "AWS_CONFIG_FILE": str(config), "AWS_PROFILE": "engops", "AWS_REGION": "ap-southeast-2"}
    )
    lines = aws_lines(result)
    assert any(line.endswith("region ap-southeast-2 (from AWS_REGION)") for line in lines), lines
    # the policy grants Secrets Manager in eu-west-1 only: in ap-southeast-2 each action is missing
    for action in SECRET_ACTIONS:
        assert (
            f"FAIL aws: {action} is not allowed on arn:aws:secretsmanager:ap-southeast-2:{ACCOUNT_ID}:secret:"
            "engops/iam/*-?????? (implicitDeny): grant it" in lines
        ), lines
    assert result.returncode == 1


def test_no_region_anywhere_is_one_line(stack: Stack, tmp_path: Path) -> None:
    env = bot_principal(stack, least_privilege_policy())
    result = check_live(stack, {**env, "AWS_CONFIG_FILE": str(tmp_path / "none")})
    lines = aws_lines(result)
    assert [line for line in lines if line.startswith("FAIL")] == [
        f"FAIL aws: arn:aws:iam::{ACCOUNT_ID}:user/engops-bot; no region (no AWS_REGION, AWS_DEFAULT_REGION or "
        "profile region): Secrets Manager is regional, set AWS_REGION"
    ]


def test_secrets_are_stored_in_the_region_in_use(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.providers.aws import AwsAdapter

    assert stack.moto is not None
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    arn = AwsAdapter(stack.moto.url).put_secret("engops/iam/x", {"k": "v"}, "0f5e6c1e-2b1a-4c1e-9f00-0000000000aa")
    assert arn.startswith(f"arn:aws:secretsmanager:eu-central-1:{ACCOUNT_ID}:secret:engops/iam/x-")


# --- permissions, by policy simulation --------------------------------------------------------------------------


def test_every_action_allowed_is_one_ok_line(stack: Stack) -> None:
    env = bot_principal(stack, least_privilege_policy("us-east-1"))
    result = check_live(stack, {**env, "AWS_DEFAULT_REGION": "us-east-1"})
    assert aws_lines(result) == [
        f"ok   aws: arn:aws:iam::{ACCOUNT_ID}:user/engops-bot, region us-east-1 (from AWS_DEFAULT_REGION)",
        f"ok   aws: the {len(ACTIONS)} IAM and Secrets Manager actions the bot uses are allowed",
    ]


def test_a_missing_action_is_named(stack: Stack) -> None:
    policy = least_privilege_policy()
    policy["Statement"][1]["Action"].remove("iam:DeleteAccessKey")
    env = bot_principal(stack, policy)
    result = check_live(stack, {**env, "AWS_DEFAULT_REGION": "us-east-1"})
    assert [line for line in aws_lines(result) if line.startswith("FAIL")] == [
        f"FAIL aws: iam:DeleteAccessKey is not allowed on arn:aws:iam::{ACCOUNT_ID}:user/* (implicitDeny): grant it"
    ]
    assert result.returncode == 1


def test_an_explicit_deny_with_a_wildcard_wins(stack: Stack) -> None:
    deny = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "SecretsManager:Put*", "Resource": "*"}],
    }
    env = bot_principal(stack, least_privilege_policy(), deny)
    result = check_live(stack, {**env, "AWS_DEFAULT_REGION": "us-east-1"})
    assert [line for line in aws_lines(result) if line.startswith("FAIL")] == [
        f"FAIL aws: secretsmanager:PutSecretValue is not allowed on arn:aws:secretsmanager:us-east-1:{ACCOUNT_ID}:"
        "secret:engops/iam/*-?????? (explicitDeny): grant it"
    ]


def test_a_principal_that_may_not_simulate_is_told_what_to_grant(stack: Stack) -> None:
    policy = least_privilege_policy()
    del policy["Statement"][3]
    env = bot_principal(stack, policy)
    result = check_live(stack, {**env, "AWS_DEFAULT_REGION": "us-east-1"})
    fails = [line for line in aws_lines(result) if line.startswith("FAIL")]
    assert len(fails) == 1 and "grant iam:SimulatePrincipalPolicy" in fails[0], fails


def test_the_policy_grants_every_call_the_adapter_makes(stack: Stack) -> None:
    """Every AWS operation the adapter sends, through each of its methods, is an action the policy (and the
    simulation) covers; sts:GetCallerIdentity needs no permission."""
    from bot.providers.aws import AwsAdapter

    assert stack.moto is not None
    faults = AwsFaults()
    aws = AwsAdapter(stack.moto.url, "us-east-1", session=faults.session(), tag_index_ttl=0)
    aws.users_tagged("alice@example.com")
    aws.get_iam_user("alice")
    (old,) = aws.list_keys("alice")
    key, secret = aws.create_key("alice")
    aws.set_key_status("alice", old.id, False)
    aws.delete_key("alice", old.id)
    token = "0f5e6c1e-2b1a-4c1e-9f00-0000000000bb"
    aws.put_secret("engops/iam/alice", secret.as_secret_value(), token)
    aws.put_secret("engops/iam/alice", secret.as_secret_value(), token[:-1] + "c")
    aws.secret_version_arn("engops/iam/alice", token)
    aws.ping()
    prefixes = {"iam": "iam", "secrets-manager": "secretsmanager", "sts": "sts"}
    called = {f"{prefixes[name.split('.')[0]]}:{name.split('.')[1]}" for name in faults.calls}
    assert called - {"sts:GetCallerIdentity"} == set(ACTIONS)  # the declared actions are the ones called
