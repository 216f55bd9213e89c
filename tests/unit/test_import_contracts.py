"""The import-linter contracts really fail the build: lint-imports over a copy of src/ with one boundary broken."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _lint_imports() -> str:
    found = shutil.which("lint-imports") or shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("lint-imports (import-linter) is not installed")
    return found


def _run(tmp_path: Path, module: str | None = None, line: str = "") -> subprocess.CompletedProcess[str]:
    """lint-imports with this project's contracts over a copy of src/, `line` added at the top of `module`."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "templates", "static"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    if module is not None:
        path = src / module
        path.write_text(f"{line}  # injected by the test\n{path.read_text()}")
    # The copy shadows the installed (editable) packages; ROOT holds tests.architecture, the allowlist contract type.
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{ROOT}"}
    return subprocess.run([_lint_imports(), "--config", str(tmp_path / "pyproject.toml"), "--no-cache"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_the_unchanged_code_keeps_every_contract(tmp_path: Path) -> None:
    result = _run(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("portal_core/policy.py", "import flask", "The core is pure"),
    ("portal_core/model/money.py", "from sqlalchemy import Numeric", "The core is pure"),
    ("portal_core/companies.py", "import adapters.memory", "The core is pure"),
    ("portal_core/seed.py", "import requests", "The core is pure"),  # any package not allowed, not a list's
    ("portal_core/browsing.py", "import hypothesis", "The core is pure"),  # only its test kit may
    ("portal_core/testing/strategies.py", "import sqlalchemy", "The core's test kit adds hypothesis and pytest"),
    ("adapters/smtp/__init__.py", "import adapters.memory", "Adapters are independent of each other"),
    ("adapters/memory/mail.py", "from entrypoints import settings", "Adapters never reach the entrypoints"),
    ("entrypoints/web/services.py", "import entrypoints.web.pages", "The web entrypoint has no import cycles"),
    ("entrypoints/web/pages.py", "import sqlalchemy", "Entrypoints reach the database through use cases"),
    ("entrypoints/cli/files.py", "from adapters.sqlalchemy import repositories", "Entrypoints reach the database"),
    ("entrypoints/demo.py", "from adapters.sqlalchemy import migrate", "Entrypoints reach the database"),
    ("entrypoints/server.py", "import psycopg", "Entrypoints reach the database"),
], ids=["core-flask", "core-sqlalchemy", "core-adapters", "core-requests", "core-hypothesis", "kit-sqlalchemy",
        "adapter-adapter", "adapter-entrypoints", "web-cycle", "web-sqlalchemy", "cli-repositories",
        "demo-migrate", "server-psycopg"])
def test_breaking_a_boundary_fails(tmp_path: Path, module: str, line: str, contract: str) -> None:
    result = _run(tmp_path, module, line)
    assert result.returncode != 0, result.stdout
    broken = [text for text in result.stdout.splitlines() if "BROKEN" in text]
    assert any(text.startswith(contract) for text in broken), result.stdout
