"""The webhook function's benchmarks (``make bench``), each a ratio against a baseline measured in the same run.

1. Cold start: importing ``functions/webhook/app.py`` in a fresh interpreter, against a bare ``import boto3``
   (target ≤ 1.3), in CPU time. Runs alternate between the two, so a busy machine slows both alike; medians are
   compared.
2. Handling a delivery: the real ``lambda_handler`` (Powertools' logger and metrics, the event's parsing, the webhook
   record, the secret from its cache, the signature, the JSON, the message for the queue, the response), against a
   raw HMAC-SHA256 check plus ``json.loads`` of the same body (target ≤ 3). The AWS calls are answered in memory at
   the client (the record's ``GetItem``, the queue's ``SendMessage``): their latency is AWS's, and their number is
   reported instead (one read and one send per delivery; KMS only when the secret's cache is cold). Best of several
   alternating timing runs, as ``timeit`` recommends for code this short.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import statistics
import subprocess
import sys
import time
import timeit
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# CPU time of the import in the child: time spent descheduled on a busy machine is no cost of the code.
IMPORT_PROBE = "import time; s = time.process_time(); {statement}; print(time.process_time() - s)"
SECRET = "4f9c2a7e1b8d6053" * 4
PREFIX = "bench-webhook-prefix-0123456789ab"[:32]
EVENT = {
    "user": {"gid": "1202000000000001", "resource_type": "user"},
    "created_at": "2026-12-02T10:00:00.000Z",
    "action": "changed",
    "resource": {"gid": "1206000000000001", "resource_type": "task", "resource_subtype": "default_task"},
    "parent": None,
    "change": {"field": "name", "action": "changed"},
}
DELIVERY_SIZES = (1, 10)  # events per delivery


def _import_seconds(statement: str, environment: dict[str, str]) -> float:
    output = subprocess.run(  # noqa: S603 - our own interpreter and a fixed probe
        [sys.executable, "-c", IMPORT_PROBE.format(statement=statement)],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    return float(output)


def cold_start(repeat: int, environment: dict[str, str]) -> dict[str, float]:
    baseline, candidate = [], []
    for _ in range(repeat):
        baseline.append(_import_seconds("import boto3", environment))
        candidate.append(_import_seconds("import functions.webhook.app", environment))
    base, seconds = statistics.median(baseline), statistics.median(candidate)
    return {"baseline_seconds": base, "seconds": seconds, "time_ratio": seconds / base}


# --- One delivery, AWS answered in memory --------------------------------------------------------------------------


class _Table:
    """The webhook record's table: ``GetItem`` answers the active webhook, as the resource API returns it."""

    name = "bench"

    def __init__(self) -> None:
        from boto3.dynamodb.types import Binary

        self.reads = 0
        self.item = {
            "pk": f"WEBHOOK#{PREFIX}",
            "sk": "WEBHOOK",
            "prefix": PREFIX,
            "org_id": "org-bench",
            "state": "active",
            "kind": "created",
            "created_by": "admin",
            "created_at": Decimal(1_790_000_000),
            "handshake_deadline": Decimal(1_790_000_060),
            "resource_gid": "1204000000000001",
            "resource_type": "project",
            "filters": [],
            "asana_gid": "1207000000000001",
            "handshake_at": Decimal(1_790_000_001),
            "activated_at": Decimal(1_790_000_002),
            # Seen a moment ago: no write of the delivery's arrival (at most one a minute per webhook).
            "last_delivery_at": Decimal(4_000_000_000),
            "secret": Binary(b"kms-ciphertext"),
        }

    def get_item(self, **_: Any) -> dict[str, Any]:
        self.reads += 1
        return {"Item": self.item}

    def update_item(self, **_: Any) -> dict[str, Any]:
        raise AssertionError("a delivery within the minute writes nothing")


class _Kms:
    def __init__(self) -> None:
        self.decryptions = 0

    def decrypt(self, **_: Any) -> dict[str, Any]:
        self.decryptions += 1
        return {"Plaintext": SECRET.encode()}


class _Sqs:
    def __init__(self) -> None:
        self.sent = 0

    def send_message(self, **_: Any) -> dict[str, Any]:
        self.sent += 1
        return {"MessageId": "m"}


def delivery(repeat: int) -> dict[str, Any]:
    from asana_integration.stores.field_crypto import WebhookSecretCipher
    from asana_integration.stores.webhooks import WebhookStore
    from asana_integration.webhooks.queue import WebhookEventQueue
    from asana_integration.webhooks.receiver import WebhookReceiver
    from functions.webhook import app

    table, kms, sqs = _Table(), _Kms(), _Sqs()
    store = WebhookStore(table, WebhookSecretCipher(kms, "bench-key"))  # type: ignore[arg-type]
    receiver = WebhookReceiver(store, WebhookEventQueue(sqs, "https://sqs.bench/queue"))  # type: ignore[arg-type]
    real_receiver = app.receiver
    app.receiver = lambda: receiver
    try:
        return {f"{size}_events": _one_delivery(size, repeat, table, kms, sqs) for size in DELIVERY_SIZES}
    finally:
        app.receiver = real_receiver


def _one_delivery(size: int, repeat: int, table: _Table, kms: _Kms, sqs: _Sqs) -> dict[str, Any]:
    from functions.webhook import app
    from tests.events import LambdaContext, http_event

    body = json.dumps({"events": [EVENT] * size}).encode()
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    event = http_event(
        "POST",
        f"/asana/webhook/{PREFIX}",
        route_path="/asana/webhook/{prefix}",
        body=body.decode(),
        headers={"x-hook-signature": signature},
        path_parameters={"prefix": PREFIX},
    )
    context: Any = LambdaContext(timeout_seconds=10)

    def raw() -> None:
        expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        hmac.compare_digest(expected, signature)
        json.loads(body)

    def handled() -> None:
        app.lambda_handler(event, context)

    assert app.lambda_handler(event, context)["statusCode"] == 200
    reads, sent, decryptions = table.reads, sqs.sent, kms.decryptions
    base, seconds = _best_of_alternating(raw, handled, repeat)
    deliveries = sqs.sent - sent  # one message per delivery of this size
    return {
        "events": size,
        "body_bytes": len(body),
        "baseline_seconds": base,
        "seconds": seconds,
        "time_ratio": seconds / base,
        "aws_calls_per_delivery": {
            "GetItem": (table.reads - reads) / deliveries,
            "SendMessage": 1,
            "KMS": (kms.decryptions - decryptions) / deliveries,
        },
    }


def _best_of_alternating(
    baseline: Callable[[], None], candidate: Callable[[], None], repeat: int, number: int = 2000
) -> tuple[float, float]:
    """CPU seconds per call of each: the best of ``repeat`` timing runs of ``number`` calls, the two alternating so
    that a busy machine slows both alike. CPU time, not wall time: time spent descheduled is no cost of the code."""
    timers = [timeit.Timer(function, timer=time.process_time) for function in (baseline, candidate)]
    runs: tuple[list[float], list[float]] = ([], [])
    for _ in range(max(repeat, 7)):
        for timer, seconds in zip(timers, runs, strict=True):
            seconds.append(timer.timeit(number=number) / number)
    return min(runs[0]), min(runs[1])


def run(repeat: int, environment: dict[str, str]) -> dict[str, Any]:
    webhook_environment = {
        **environment,
        "WEBHOOK_EVENTS_QUEUE_URL": "https://sqs.bench/queue",
    }
    os.environ.setdefault("WEBHOOK_EVENTS_QUEUE_URL", webhook_environment["WEBHOOK_EVENTS_QUEUE_URL"])
    return {"cold_start": cold_start(max(repeat, 9), webhook_environment), "delivery": delivery(repeat)}


def report(results: dict[str, Any]) -> list[str]:
    cold = results["cold_start"]
    lines = [
        f"webhook cold start   time x{cold['time_ratio']:.2f} of a bare import boto3 "
        f"(CPU {cold['seconds'] * 1000:.0f} ms vs {cold['baseline_seconds'] * 1000:.0f} ms; target ≤ 1.3)"
    ]
    for row in results["delivery"].values():
        events = f"{row['events']} event" + ("s" if row["events"] != 1 else "")
        lines.append(
            f"webhook delivery     time x{row['time_ratio']:.2f} of a raw HMAC + JSON parse "
            f"({events}, {row['body_bytes']} bytes: CPU {row['seconds'] * 1e6:.1f} µs vs "
            f"{row['baseline_seconds'] * 1e6:.1f} µs; target ≤ 3; AWS per delivery: "
            f"{row['aws_calls_per_delivery']['GetItem']:.0f} GetItem, 1 SendMessage, "
            f"{row['aws_calls_per_delivery']['KMS']:.0f} KMS)"
        )
    return lines
