"""The IAM audit's pytest wiring: ``tests/conftest.py`` calls :func:`install` from ``pytest_configure``."""

from __future__ import annotations

import pytest

from tests.iam import recorder, suite


def install(config: pytest.Config) -> None:
    recorder.install()  # before any botocore session exists, so every session carries the hook
    suite.install(config)
