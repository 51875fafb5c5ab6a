"""A web-only replica (`engops serve --no-worker`) imports the listeners and the composition root, never the worker's
registry: it must still know every kind of request, or Retry filing and `/engops status` on an IT request fail
there (they look the kind up to plan again or to render its card)."""

from __future__ import annotations

import subprocess
import sys

import workflows.registry  # noqa: F401  (this process: every kind, to compare with)
from workflows.engine.kinds import KINDS

WEB_ONLY = "import engops.runner, engops.app; from workflows.engine.kinds import KINDS; print(sorted(KINDS))"


def test_a_web_only_process_knows_every_kind_of_request() -> None:
    shown = subprocess.run([sys.executable, "-c", WEB_ONLY], capture_output=True, text=True, check=True, timeout=120)
    assert shown.stdout.strip() == str(sorted(KINDS))
    assert {"access", "offboarding", "key_rotation", "it_request", "escalation"} <= set(KINDS)
