"""The `engops` console script, run as a user runs it (without the vendors' credentials of this environment)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ENGOPS = [sys.executable, "-m", "engops.cli"]


def run(args: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OKTA_", "GOOGLE_", "GITLAB_"))}
    return subprocess.run(
        ENGOPS + args, env={**base, **env}, capture_output=True, text=True, timeout=120, cwd=cwd, check=False
    )
