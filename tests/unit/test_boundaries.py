"""Import boundaries: the core stays pure, and adapters/entrypoints are this project's packages, not PyPI's."""

from __future__ import annotations

import ast
import importlib
import pathlib

import pytest

SRC = pathlib.Path(__file__).resolve().parents[2] / "src"
CORE = SRC / "portal_core"
FORBIDDEN = {"flask", "sqlalchemy", "stripe", "jinja2", "smtplib", "werkzeug", "adapters", "entrypoints"}


def _imported_top_levels(path: pathlib.Path) -> set[str]:
    """Top-level names of every absolute import in a module (relative imports stay inside portal_core)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name)
              and getattr(node.func, "attr", getattr(node.func, "id", "")) in {"import_module", "__import__"}
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            names.add(node.args[0].value.split(".")[0])
    return names


CORE_MODULES = sorted(CORE.rglob("*.py"))


def test_the_core_has_modules_to_check() -> None:
    assert len(CORE_MODULES) >= 10
    assert CORE / "policy.py" in CORE_MODULES and CORE / "model" / "money.py" in CORE_MODULES


@pytest.mark.parametrize("path", CORE_MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_core_module_imports_infrastructure_or_outer_layers(path: pathlib.Path) -> None:
    assert _imported_top_levels(path) & FORBIDDEN == set()


def test_the_checker_sees_the_imports_it_forbids(tmp_path: pathlib.Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import flask\nfrom sqlalchemy.orm import Session\nimport os.path as p\n"
                      "from . import sibling\nimportlib.import_module('stripe')\n"
                      "def f():\n    import smtplib\n")
    assert _imported_top_levels(sample) == {"flask", "sqlalchemy", "os", "stripe", "smtplib"}


@pytest.mark.parametrize("package", ["adapters", "entrypoints", "portal_core"])
def test_the_layer_packages_import_from_this_projects_src(package: str) -> None:
    """adapters and entrypoints are also names of unrelated PyPI packages: make sure we get ours."""
    module = importlib.import_module(package)
    assert module.__file__ is not None
    location = pathlib.Path(module.__file__).resolve()
    assert location.is_relative_to(SRC.resolve()), location
    assert location == (SRC / package / "__init__.py").resolve()


def test_no_source_file_is_longer_than_450_lines() -> None:
    """A module that long does more than one job (issue 17): split it where the jobs part."""
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 450}
    assert long == {}
