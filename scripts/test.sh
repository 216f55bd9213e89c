#!/usr/bin/env bash
# Installs the project with its test extras into .venv and runs every check: boundaries, lint, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'
.venv/bin/lint-imports
.venv/bin/ruff check src tests examples
.venv/bin/mypy src/portal_core
.venv/bin/python -m pytest -q "$@"
