"""The CI rule of tests/conftest.py, run on a small suite of its own: under CI=true a skip fails the run; elsewhere
it stays a skip; an expected failure (xfail) is not a skip."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUITE = """
import pytest

def test_needs_chromium():
    pytest.skip("chromium is not on PATH")

@pytest.mark.skipif(True, reason="PostgreSQL tests need PORTAL_TEST_DATABASE_URL")
def test_needs_postgres():
    pass

@pytest.mark.xfail(reason="known", strict=True)
def test_known_failure():
    assert False

def test_plain():
    assert True
"""


# Under CI the skip in the test body is a failure, and the skip at setup (a skipif mark, a fixture) an error.
@pytest.mark.parametrize(("ci", "failed", "errors", "skipped"), [("true", 1, 1, 0), ("", 0, 0, 2)])
def test_a_skip_fails_only_under_ci(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str,
                                    failed: int, errors: int, skipped: int) -> None:
    monkeypatch.setenv("CI", ci)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the child imports the hook from this project's tests package
    pytester.makeconftest("from tests.conftest import pytest_runtest_makereport  # noqa: F401\n")
    pytester.makepyfile(SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=failed, errors=errors, skipped=skipped, xfailed=1)
    if ci:
        result.stdout.fnmatch_lines(["*skipped under CI=true*chromium is not on PATH*"], consecutive=False)
        result.stdout.fnmatch_lines(["*skipped under CI=true*PostgreSQL tests need*"], consecutive=False)
