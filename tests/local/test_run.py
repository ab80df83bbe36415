"""``make run``'s options for the queue pollers and asynchronous retries reach the stack."""

from __future__ import annotations

import pytest

from local.gateway.async_invoke import LOCAL_RETRY_DELAY_SCALE
from local.run import parse_args


def test_pollers_run_and_retries_wait_a_second_then_two_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RETRY_DELAY_SCALE", raising=False)
    args = parse_args([])
    assert (args.no_pollers, args.retry_delay_scale) == (False, LOCAL_RETRY_DELAY_SCALE)


def test_pollers_can_be_left_off_and_retries_waited_as_on_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    args = parse_args(["--no-pollers", "--retry-delay-scale", "1"])
    assert (args.no_pollers, args.retry_delay_scale) == (True, 1.0)
    monkeypatch.setenv("RETRY_DELAY_SCALE", "0")
    assert parse_args([]).retry_delay_scale == 0.0
