"""The layer rules of docs/DEVELOPING.md, as import-linter contracts (pyproject.toml, [tool.importlinter]):
engops > commands > workflows > bot; the wings stand on the engine and never on each other; workflows reach
Slack only through the Messenger; adapters and storage are leaves."""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]


def test_the_import_graph_keeps_every_layer_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True) == 0, (
        "an import breaks a layer contract: run `.venv/bin/lint-imports` to see which"
    )


def test_no_module_imports_itself_back() -> None:
    """No import cycle between modules (the layer contracts only see cycles that cross a layer)."""
    graph = grimp.build_graph("engops", "commands", "workflows", "bot", cache_dir=None)
    cycles = sorted(
        f"{module} -> {imported} -> ... -> {module}"
        for module in graph.modules
        for imported in graph.find_modules_directly_imported_by(module)
        if graph.chain_exists(importer=imported, imported=module)
    )
    assert cycles == []
