"""Where the shared folder (SPEC.md, the vendors' specs) is: beside the repository, as CI lays it out,
else the work area's, else $ENGOPS_SHARED."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    for candidate in (os.environ.get("ENGOPS_SHARED"), REPO.parent / "shared", "/work/shared"):
        if candidate and (Path(candidate) / "specs").is_dir():
            return Path(candidate)
    raise FileNotFoundError("the shared folder (SPEC.md, specs/) is not beside the repository; set ENGOPS_SHARED")
