"""What every test shares: under CI (CI=true) a skipped test is a failure.

A test skips when something it needs is missing here (Chromium, PostgreSQL, axe-core, php, node). On a developer's
machine that is a convenience; in CI it would be a green run that tested nothing, so `.ci/run` installs all of them
and this hook reports any skip there as the failure it is.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest
from hypothesis import settings

# Properties without settings of their own, and the repository contract suite, run at the profile's count: a quick
# one on a developer's machine, 100 or more in CI. HYPOTHESIS_PROFILE=ci runs CI's anywhere.
settings.register_profile("dev", max_examples=20)
settings.register_profile("ci", max_examples=100)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    outcome = yield
    report = outcome.get_result()
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where nothing may be missing: {reason}"


settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if in_ci() else "dev"))

pytest_plugins = ["pytester"]  # tests/unit/test_ci_skips.py runs a small suite of its own through this hook
