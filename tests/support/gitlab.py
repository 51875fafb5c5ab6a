"""The GitLab side of the stand-in world: the trackers requests are filed in, and the app's webhook."""

from __future__ import annotations

import urllib.error
import urllib.request

from engops.sandbox.stack import Stack

# The teams' trackers of the example policy.
ACCESS = "bt-engineering/access-manager/issue-tracker"
INFRA = "bt-engineering/infrastructure/issue-tracker"
INTEGRATIONS = "enterprise-apps/integrations/integrations-work"
OPERATIONS = "bt-engineering/operations/issue-tracker"
OFFBOARDING_TRACKER = ACCESS  # where offboarding records are filed


def post_webhook(stack: Stack, body: bytes, token: str | None, event: str = "Issue Hook") -> int:
    headers = {"Content-Type": "application/json", "X-Gitlab-Event": event}
    if token is not None:
        headers["X-Gitlab-Token"] = token
    request = urllib.request.Request(f"{stack.url}/gitlab/webhook", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
