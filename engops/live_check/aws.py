"""AWS's part of `engops check --live`: who the bot is, in which region, and whether IAM's policy simulator allows
every IAM and Secrets Manager action the bot calls (one line per action that is not allowed).

What simulation proves: the principal's identity policies (and, at AWS, its permissions boundary and the
organisation's SCPs) allow each action on the resources the bot touches. What it does not see: resource policies
on the secrets and the KMS key policy of a customer-managed key (with the default `aws/secretsmanager` key there
is none to need)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from bot.providers.aws import IAM_ACCOUNT_ACTIONS, IAM_USER_ACTIONS, SECRET_ACTIONS
from bot.providers.errors import ProviderError
from engops.live_check.result import CheckResult, attempt

if TYPE_CHECKING:
    from bot.providers.aws import AwsProvider

SERVICE = "aws"
_ARN = re.compile(r"arn:(?P<partition>[\w-]+):(?P<service>iam|sts)::(?P<account>\d{12}):(?P<resource>.+)")


def aws_checks(aws: AwsProvider, secret_name: str | None = None) -> Iterator[CheckResult]:
    """`secret_name` is the policy's `aws_keys.secret_name` (None: any secret); the Secrets Manager actions are
    simulated on it."""
    identity = attempt(SERVICE, aws.ping)
    if not identity.ok:
        yield identity
        return
    caller = identity.message
    region, source = aws.region_in_use()
    if region is None:
        no_region = f"{caller}; no region ({source}): Secrets Manager is regional, set AWS_REGION"
        yield CheckResult(SERVICE, False, no_region)
    else:
        yield CheckResult(SERVICE, True, f"{caller}, region {region} (from {source})")
    match = _ARN.fullmatch(caller)
    if match is not None and match["resource"] == "root":
        yield CheckResult(SERVICE, True, "the account's root user: every action is allowed (AWS advises a role)")
        return
    principal = _simulation_principal(caller)
    partition, account = (match["partition"], match["account"]) if match else ("aws", "*")
    secret = (secret_name or "*").replace("{user}", "*") + "-??????"  # Secrets Manager adds 6 random characters
    probes: list[tuple[str, Sequence[str], dict[str, str]]] = [
        ("*", IAM_ACCOUNT_ACTIONS, {}),
        (f"arn:{partition}:iam::{account}:user/*", IAM_USER_ACTIONS, {}),
    ]
    if region is not None:
        resource = f"arn:{partition}:secretsmanager:{region}:{account}:secret:{secret}"
        probes.append((resource, SECRET_ACTIONS, {"aws:RequestedRegion": region}))
    denied = 0
    for resource, actions, context in probes:
        try:
            decisions = aws.simulate(principal, actions, resource, context)
        except ProviderError as exc:
            yield CheckResult(
                SERVICE,
                False,
                f"cannot simulate the policies of {principal} ({exc.message}): grant iam:SimulatePrincipalPolicy on "
                "it so that check --live can prove the bot's permissions",
            )
            return
        for action, decision in decisions.items():
            if decision != "allowed":
                denied += 1
                yield CheckResult(SERVICE, False, f"{action} is not allowed on {resource} ({decision}): grant it")
    if not denied:
        count = sum(len(actions) for _, actions, _ in probes)
        yield CheckResult(SERVICE, True, f"the {count} IAM and Secrets Manager actions the bot uses are allowed")


def _simulation_principal(caller: str) -> str:
    """The ARN IAM's simulator takes for a caller: an assumed role's session is judged as its role (a role with a
    path needs that path, which the session ARN does not show: the simulator then answers NoSuchEntity)."""
    match = _ARN.fullmatch(caller)
    if match is not None and match["service"] == "sts" and match["resource"].startswith("assumed-role/"):
        role = match["resource"].split("/")[1]
        return f"arn:{match['partition']}:iam::{match['account']}:role/{role}"
    return caller
