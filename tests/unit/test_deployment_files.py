"""app.yaml and requirements.txt: current, consistent with pyproject, and free of secrets."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
APP_ENGINE_KEYS = {
    "runtime",
    "entrypoint",
    "instance_class",
    "automatic_scaling",
    "inbound_services",
    "handlers",
    "env_variables",
    "includes",
    "service",
    "vpc_access_connector",
    "app_engine_apis",
}
CURRENT_PYTHON_RUNTIMES = {"python311", "python312", "python313"}


def test_app_yaml_is_a_current_standard_descriptor() -> None:
    app = yaml.safe_load((ROOT / "app.yaml").read_text())
    assert set(app) <= APP_ENGINE_KEYS, set(app) - APP_ENGINE_KEYS
    assert app["runtime"] in CURRENT_PYTHON_RUNTIMES
    assert "serve --no-worker" in app["entrypoint"] and "$PORT" in app["entrypoint"]
    assert all(h.get("secure") == "always" for h in app["handlers"])
    assert app["automatic_scaling"]["min_instances"] >= 1


def test_app_yaml_holds_no_secrets() -> None:
    app = yaml.safe_load((ROOT / "app.yaml").read_text())
    secret_names = re.compile(r"TOKEN|SECRET|PASSWORD|PRIVATEKEY|DATABASE_URL|CREDENTIALS", re.I)
    assert not [k for k in app.get("env_variables", {}) if secret_names.search(k)]
    assert "secrets.yaml" in (ROOT / ".gitignore").read_text()


def test_requirements_match_pyproject_pins() -> None:
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    lines = [line for line in (ROOT / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert lines == pins
    assert all("==" in pin for pin in pins), "every dependency is pinned"
