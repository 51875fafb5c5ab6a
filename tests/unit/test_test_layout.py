"""The tests' own layout: a helper two test modules share lives in tests/support/, never in a test module that
others import (importing a test module makes pytest collect its tests twice, and hides the helper)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
NOT_CODE = ("data",)  # test data, not modules of the suite


def _modules() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if p.relative_to(TESTS).parts[0] not in NOT_CODE)


def imported_test_modules(source: str) -> list[str]:
    """The test modules (`test_*`) a module's source imports, however it imports them."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [name for name in names if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_")]
    return found


def test_the_scan_finds_each_way_of_importing_a_test_module() -> None:
    source = (
        "from tests.scenario.test_access_flow import request_access\n"
        "from tests.scenario import test_offboarding\n"
        "import tests.integration.test_cli\n"
        "from tests.support.slack import reply_to\n"
        "def later() -> None:\n"
        "    from tests.unit.test_policy import x\n"
    )
    assert imported_test_modules(source) == [
        "tests.scenario.test_access_flow",
        "tests.scenario.test_offboarding",
        "tests.integration.test_cli",
        "tests.unit.test_policy",
    ]


def test_no_module_imports_a_test_module() -> None:
    offenders = {
        str(path.relative_to(TESTS)): imported
        for path in _modules()
        if (imported := imported_test_modules(path.read_text()))
    }
    assert not offenders, f"move the shared helpers to tests/support/: {offenders}"


def test_helpers_live_in_support() -> None:
    """Outside tests/support/, a module is a test module, a conftest or a package marker."""
    strays = [
        str(path.relative_to(TESTS))
        for path in _modules()
        if path.parent.name != "support"
        and not path.name.startswith("test_")
        and path.name not in ("conftest.py", "__init__.py")
    ]
    assert not strays, f"helper modules outside tests/support/: {strays}"
