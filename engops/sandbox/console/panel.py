"""The side panel: what the other stand-ins hold now, so each click's effect is visible.

Okta, Google and GitLab are read from their stand-ins' `state()`; AWS is asked through boto3 like
any client of the moto server would (IAM users, their keys with age, status and last use; the
names of Secrets Manager secrets, never their values). The AWS picture is cached for a moment
because the browser polls and IAM needs a call per user.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

from engops.sandbox.aws import sandbox_client
from engops.sandbox.gitlab import GitLabStandIn
from engops.sandbox.google import GoogleStandIn
from engops.sandbox.okta import OktaStandIn

AWS_CACHE_SECONDS = 1.0


def okta_panel(okta: OktaStandIn) -> dict[str, Any]:
    state = okta.state()
    return {
        "groups": [
            {"name": g["name"], "description": g["description"], "members": g["members"]} for g in state["groups"]
        ],
        "users": [{"login": u["login"], "status": u["status"], "manager": u["manager"]} for u in state["users"]],
        "sessions_cleared": state["sessions_cleared"],
    }


def google_panel(google: GoogleStandIn) -> dict[str, Any]:
    state = google.state()
    return {
        "users": [{"email": u["primaryEmail"], "suspended": bool(u["suspended"])} for u in state["users"]],
        "signouts": state["signouts"],
    }


def gitlab_panel(gitlab: GitLabStandIn) -> dict[str, Any]:
    state = gitlab.state()
    projects = []
    for project in state["projects"]:
        issues = [
            {
                "iid": i["iid"],
                "title": i["title"],
                "state": i["state"],
                "labels": i["labels"],
                "assignees": i["assignees"],
                "confidential": i["confidential"],
                "web_url": i["web_url"],
                "description": i["description"],
                "author": i["author"],
                "notes": [{"author": n["author"], "body": n["body"], "system": n["system"]} for n in i["notes"]],
            }
            for i in project["issues"]
        ]
        projects.append({"path": project["path_with_namespace"], "issues": issues})
    return {"projects": projects}


def _iso(moment: Any) -> str | None:
    return moment.astimezone(UTC).isoformat() if isinstance(moment, datetime) else None


def _age_days(moment: Any, now: datetime) -> int | None:
    return (now - moment.astimezone(UTC)).days if isinstance(moment, datetime) else None


class AwsPanel:
    """IAM users and keys, and Secrets Manager secret names, read from moto through boto3."""

    def __init__(self, endpoint_url: str) -> None:
        self._iam = sandbox_client("iam", endpoint_url)
        self._secrets = sandbox_client("secretsmanager", endpoint_url)
        self._lock = threading.Lock()
        self._cached: dict[str, Any] | None = None
        self._cached_at = 0.0

    def state(self) -> dict[str, Any]:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached_at > AWS_CACHE_SECONDS:
                self._cached = self._read()
                self._cached_at = time.monotonic()
            return self._cached

    def _read(self) -> dict[str, Any]:
        now = datetime.now(UTC)
        users = []
        for page in self._iam.get_paginator("list_users").paginate():
            for user in page["Users"]:
                name = user["UserName"]
                tags = {t["Key"]: t["Value"] for t in self._iam.list_user_tags(UserName=name).get("Tags", [])}
                keys = []
                for key in self._iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
                    used = self._iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
                    last_used = used.get("AccessKeyLastUsed", {}).get("LastUsedDate")
                    keys.append(
                        {
                            "id": key["AccessKeyId"],
                            "status": key["Status"],
                            "created": _iso(key.get("CreateDate")),
                            "age_days": _age_days(key.get("CreateDate"), now),
                            "last_used": _iso(last_used),
                            "last_used_days": _age_days(last_used, now),
                        }
                    )
                users.append({"name": name, "email": tags.get("email"), "keys": keys})
        secrets = [
            {"name": s["Name"], "arn": s["ARN"], "changed": _iso(s.get("LastChangedDate"))}
            for page in self._secrets.get_paginator("list_secrets").paginate()
            for s in page["SecretList"]
        ]
        return {"users": sorted(users, key=lambda u: u["name"]), "secrets": sorted(secrets, key=lambda s: s["name"])}
