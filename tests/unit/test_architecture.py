"""The layer rules of docs/DEVELOPING.md, as import-linter contracts (pyproject.toml, [tool.importlinter]):
engops > commands > workflows > bot; the wings stand on the engine and never on each other; workflows reach
Slack only through the Messenger; adapters and storage are leaves."""

from __future__ import annotations

from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]


def test_the_import_graph_keeps_every_layer_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True) == 0, (
        "an import breaks a layer contract: run `.venv/bin/lint-imports` to see which"
    )
