"""Reading back IAM access keys and Secrets Manager from the moto stand-in."""

from __future__ import annotations

import json
from typing import Any

import boto3

from engops.sandbox.aws import DEFAULT_REGION, sandbox_client
from engops.sandbox.stack import Stack


def iam(stack: Stack) -> Any:
    assert stack.moto is not None
    return sandbox_client("iam", stack.moto.url)


def keys_of(stack: Stack, user: str) -> dict[str, str]:
    """key id -> Active/Inactive"""
    return {k["AccessKeyId"]: k["Status"] for k in iam(stack).list_access_keys(UserName=user)["AccessKeyMetadata"]}


def stored_secret(stack: Stack, name: str) -> dict[str, str]:
    assert stack.moto is not None
    value = sandbox_client("secretsmanager", stack.moto.url).get_secret_value(SecretId=name)["SecretString"]
    return dict(json.loads(value))


def secret_versions(stack: Stack, name: str) -> int:
    assert stack.moto is not None
    secrets = sandbox_client("secretsmanager", stack.moto.url)
    return len(secrets.list_secret_version_ids(SecretId=name, IncludeDeprecated=True)["Versions"])


def caller_arn(stack: Stack, secret: dict[str, str]) -> str:
    """Sign a request with the stored key: moto answers with the IAM user the key belongs to."""
    assert stack.moto is not None
    sts = boto3.client(
        "sts",
        endpoint_url=stack.moto.url,
        region_name=DEFAULT_REGION,
        aws_access_key_id=secret["AccessKeyId"],
        aws_secret_access_key=secret["SecretAccessKey"],
    )
    return str(sts.get_caller_identity()["Arn"])


def key_statuses(stack: Stack, iam_user: str) -> list[str]:
    assert stack.moto is not None
    iam = sandbox_client("iam", stack.moto.url)
    return [k["Status"] for k in iam.list_access_keys(UserName=iam_user)["AccessKeyMetadata"]]
