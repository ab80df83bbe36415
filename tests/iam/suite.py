"""Whether this pytest run is the whole suite: only then can a grant no recorded call needed be called unused.

A subset (a file, ``-k``, ``-m``, ``--lf``) records a subset of the calls, so every grant its tests did not reach
would look unused. Missing permissions are judged on any run; unused grants only when every test module under
``tests/`` was collected and nothing was deselected. Tests that were skipped are listed, since their calls are
missing from the recording too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from local.template import ROOT

TESTS_DIR = ROOT / "tests"


@dataclass(eq=False)  # pluggy keeps plugins in sets: identity hashing
class SuiteRun:
    collected_modules: set[Path] = field(default_factory=set)
    deselected: int = 0
    skipped: list[str] = field(default_factory=list)

    # ---------------------------------------------------------------- pytest hooks (registered as a plugin)
    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected += len(items)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.collected_modules = {Path(item.path).resolve() for item in session.items}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and report.when in ("setup", "call"):
            self.skipped.append(report.nodeid)

    # ---------------------------------------------------------------- verdict
    def incomplete_because(self) -> str | None:
        """None when the whole suite was collected; otherwise what was left out."""
        missing = sorted(
            str(path.relative_to(ROOT)) for path in TESTS_DIR.rglob("test_*.py") if path not in self.collected_modules
        )
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            return f"this run did not collect every test module ({shown} left out)"
        if self.deselected:
            return f"{self.deselected} tests were deselected (-k, -m, --lf or --deselect)"
        return None


SUITE = SuiteRun()


def install(config: pytest.Config) -> None:
    config.pluginmanager.register(SUITE, "iam-suite-run")
