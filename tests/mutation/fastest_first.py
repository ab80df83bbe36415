"""pytest plugin for the mutation run: each mutant's tests go in the order most likely to kill it soon.

First the tests of the mutated module (test files named after it, the suite's convention: ``transport.py`` ->
``test_security_transport.py``, ``test_transport_proxy.py``), then the rest, quickest first within each group. mutmut
runs every test that calls the mutated function, and a function every Asana call passes through (the transport, the
credential store) is called by hundreds of tests that never take the branch a mutant changes: ordered by duration
alone, the tests that do take it often come last.

mutmut first runs every test once to learn which functions each one calls (``MUTANT_UNDER_TEST=stats``); this plugin
records each test's whole duration then, set-up included (moto and the Asana sandbox cost far more than most test
bodies, and mutmut's own figures leave set-up out), in ``test-durations.json`` (pytest runs in ``mutants/``). Each
mutant's run then orders its tests by it. A mutant that survives still runs all of its tests; only the order changes.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from pathlib import Path

import pytest

DURATIONS = Path("test-durations.json")
_measured: dict[str, float] = defaultdict(float)


def _measuring() -> bool:
    return os.environ.get("MUTANT_UNDER_TEST") == "stats"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _measuring():
        _measured[report.nodeid] += report.duration


def pytest_sessionfinish() -> None:
    if _measuring() and _measured:
        # mutmut measures only the new tests when it finds some after a run (--keep): the others keep their figures.
        known: dict[str, float] = json.loads(DURATIONS.read_text(encoding="utf-8")) if DURATIONS.exists() else {}
        DURATIONS.write_text(json.dumps(known | _measured, indent=1), encoding="utf-8")


def module_words(mutant: str) -> tuple[str, ...]:
    """The words a test file of the mutant's module is named with: ``...stores.sync_state.x_f__mutmut_3`` ->
    ``("sync_state",)``; a plural module also matches its singular (``webhooks`` -> ``webhook``)."""
    parts = mutant.split(".")
    module = parts[-2] if len(parts) >= 2 else ""
    return tuple(dict.fromkeys(word for word in (module, module.removesuffix("s")) if word))


@pytest.hookimpl(trylast=True)  # after the suite's own ordering (tests/conftest.py), which the sort keeps for ties
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if _measuring() or not DURATIONS.exists():
        return
    durations: dict[str, float] = json.loads(DURATIONS.read_text(encoding="utf-8"))
    words = module_words(os.environ.get("MUTANT_UNDER_TEST", ""))

    def order(item: pytest.Item) -> tuple[bool, float]:
        of_the_module = any(word in item.path.name for word in words)
        return not of_the_module, durations.get(item.nodeid, math.inf)

    items.sort(key=order)
