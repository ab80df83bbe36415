"""Benchmarks: each figure is a ratio against a baseline measured in the same run, on the same machine.

    make bench            # or: .venv/bin/python -m bench [--repeat N]

1. cold start: importing each function's module in a fresh interpreter (time and peak RSS), against importing the
   floor every Powertools + pydantic + boto3 function pays.
2. listing: paging through 230 projects in the Asana sandbox with ``AsanaClient.iterate`` (time and traced peak
   memory), against a plain ``requests`` loop following ``next_page.offset``.
3. warm request: ``GET /asana/api/settings`` through the settings function's ``lambda_handler`` under moto, against a
   bare Powertools resolver doing the one DynamoDB read the status needs (so the ratio is our overhead, not moto's).
4. data sync (``bench/sync.py``): the figures issue 9 sets, each against its bound: Asana calls of a full sync of the
   large generated organization ÷ the pagination minimum, mirror writes of an unchanged second sync, calls of a quiet
   incremental sync per imported project, a rate-limited sync's wall time ÷ (calls ÷ limit), and the dispatcher with
   10,000 organizations. ``--no-large`` syncs a mid-size organization instead (minutes less).
5. webhook (``bench/webhook.py``): the webhook function's cold start against a bare ``import boto3`` (issue 10: ≤ 1.3),
   and its handling of a delivery against a raw HMAC check plus JSON parse of the same body (≤ 3).

Results are printed and written to ``bench/results/latest.json``. Absolute times vary by machine; the ratios are the
figures to compare between changes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
# Each function and its handler module (template.yaml's Handler, under functions/<name>/).
FUNCTIONS = {
    "settings": "functions.settings.app",
    "oauth_callback": "functions.oauth_callback.app",
    "webhook": "functions.webhook.app",
    "sync": "functions.sync.connection_upkeep",
    "sync_dispatcher": "functions.sync.dispatcher",
    "sync_worker": "functions.sync.worker",
}
FLOOR_IMPORTS = (
    "import boto3, pydantic, requests; from aws_lambda_powertools.event_handler import APIGatewayHttpResolver"
)

ENVIRONMENT = {
    "PYTHONPATH": f"{ROOT / 'layers' / 'common'}{os.pathsep}{ROOT}",
    "TABLE_NAME": "bench",
    "KMS_KEY_ID": "bench",
    "PUBLIC_BASE_URL": "https://expand.securedb.io",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "POWERTOOLS_METRICS_NAMESPACE": "Bench",
    "POWERTOOLS_SERVICE_NAME": "bench",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}

IMPORT_PROBE = """
import resource, time
started = time.perf_counter()
{statement}
elapsed = time.perf_counter() - started
print(elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _import_cost(statement: str) -> tuple[float, float]:
    env = {**os.environ, **ENVIRONMENT}
    output = subprocess.run(  # noqa: S603 - our own interpreter and a fixed probe
        [sys.executable, "-c", IMPORT_PROBE.format(statement=statement)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout.split()
    return float(output[0]), float(output[1])


def cold_start(repeat: int) -> dict[str, Any]:
    def median_cost(statement: str) -> tuple[float, float]:
        samples = [_import_cost(statement) for _ in range(repeat)]
        return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)

    floor_seconds, floor_kib = median_cost(FLOOR_IMPORTS)
    results: dict[str, Any] = {"baseline_seconds": floor_seconds, "baseline_max_rss_kib": floor_kib}
    for function, module in FUNCTIONS.items():
        seconds, kib = median_cost(f"import {module}")
        results[function] = {
            "seconds": seconds,
            "time_ratio": seconds / floor_seconds,
            "max_rss_kib": kib,
            "memory_ratio": kib / floor_kib,
        }
    return results


def _measure(action: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median seconds and median traced peak bytes over ``repeat`` runs (after one warm-up)."""
    action()
    seconds, peaks = [], []
    for _ in range(repeat):
        tracemalloc.start()
        started = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - started)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return statistics.median(seconds), statistics.median(peaks)


def _compare(baseline: Callable[[], object], candidate: Callable[[], object], repeat: int) -> dict[str, float]:
    """Candidate against baseline, measured in the same run: medians and their ratios."""
    base_seconds, base_peak = _measure(baseline, repeat)
    seconds, peak = _measure(candidate, repeat)
    return {
        "baseline_seconds": base_seconds,
        "seconds": seconds,
        "time_ratio": seconds / base_seconds,
        "baseline_peak_bytes": base_peak,
        "peak_bytes": peak,
        "memory_ratio": peak / base_peak,
    }


def listing(repeat: int) -> dict[str, Any]:
    import requests

    from asana_integration.asana.client import AsanaClient
    from asana_integration.asana.token_source import StaticToken
    from asana_integration.config import Config
    from local.asana_sandbox import AsanaSandbox, demo

    with AsanaSandbox(port=0) as sandbox:
        sandbox.set_rate_limit(1_000_000)
        config = Config.model_validate({**ENVIRONMENT, "ASANA_API_BASE_URL": sandbox.api_base_url})
        client = AsanaClient(StaticToken(demo.DEMO_PAT), config)
        session = requests.Session()
        headers = {"Authorization": f"Bearer {demo.DEMO_PAT}"}
        fields = "name,archived,team.name,permalink_url"

        def plain_loop() -> int:
            count, offset = 0, None
            while True:
                params = {"workspace": demo.ORG_WORKSPACE_GID, "limit": 100, "opt_fields": fields}
                if offset:
                    params["offset"] = offset
                body = session.get(
                    f"{sandbox.api_base_url}/projects", params=params, headers=headers, timeout=10
                ).json()
                count += len(body["data"])
                if not body.get("next_page"):
                    return count
                offset = body["next_page"]["offset"]

        def with_client() -> int:
            return sum(1 for _ in client.iterate("/projects", {"workspace": demo.ORG_WORKSPACE_GID}, opt_fields=fields))

        assert plain_loop() == with_client() == demo.ORG_PROJECT_COUNT
        return {"items": demo.ORG_PROJECT_COUNT, **_compare(plain_loop, with_client, repeat)}


def warm_request(repeat: int) -> dict[str, Any]:
    import boto3
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from moto import mock_aws

    from local.asana_sandbox import AsanaSandbox, demo
    from tests.aws import create_resources
    from tests.events import LambdaContext, claims_for, http_event

    with mock_aws(), AsanaSandbox(port=0) as sandbox:
        resources = create_resources("bench")
        os.environ.update(
            {
                "TABLE_NAME": resources.table_name,
                "KMS_KEY_ID": resources.kms_key_arn,
                "ASANA_API_BASE_URL": sandbox.api_base_url,
                "ASANA_OAUTH_BASE_URL": sandbox.oauth_base_url,
            }
        )
        from functions.settings import app as settings

        claims = claims_for("bench-org", "bench-admin", admin=True)
        body = {
            "client_id": demo.DEMO_APP_CLIENT_ID,
            "client_secret": demo.DEMO_APP_CLIENT_SECRET,
            "pat": demo.DEMO_PAT,
        }
        saved = settings.lambda_handler(
            http_event("PUT", "/asana/api/settings", claims=claims, body=body), LambdaContext()
        )
        assert saved["statusCode"] == 200, saved
        event = http_event("GET", "/asana/api/settings", claims=claims)

        bare = APIGatewayHttpResolver()
        table = boto3.resource("dynamodb").Table(resources.table_name)

        @bare.get("/asana/api/settings")
        def minimal_read() -> dict[str, Any]:
            return table.get_item(Key={"pk": "ORG#bench-org", "sk": "VERIFICATION"}).get("Item", {})

        return _compare(
            lambda: bare.resolve(event, LambdaContext()),
            lambda: settings.lambda_handler(event, LambdaContext()),
            repeat * 10,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-large", action="store_true", help="sync a mid-size organization, not the large one")
    args = parser.parse_args()
    os.environ.update(ENVIRONMENT)  # before anything creates Powertools' logger (service name, level)
    sys.path[:0] = [str(ROOT / "layers" / "common"), str(ROOT)]

    results = {
        "cold_start": cold_start(args.repeat),
        "listing": listing(args.repeat),
        "warm_request": warm_request(args.repeat),
    }
    from bench import sync

    results["sync"] = sync.figures(large=not args.no_large)
    from bench import webhook

    results["webhook"] = webhook.run(args.repeat, ENVIRONMENT)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2))

    cold = results["cold_start"]
    print(
        f"cold start (baseline: Powertools+boto3+pydantic+requests imports, {cold['baseline_seconds'] * 1000:.0f} ms)"
    )
    for function in FUNCTIONS:
        row = cold[function]
        print(f"  {function:15s} time x{row['time_ratio']:.2f}  max RSS x{row['memory_ratio']:.2f}")
    for name in ("listing", "warm_request"):
        row = results[name]
        print(f"{name:17s} time x{row['time_ratio']:.2f}  traced peak memory x{row['memory_ratio']:.2f}")
    for line in sync.report(results["sync"]):
        print(line)
    for line in webhook.report(results["webhook"]):
        print(line)


if __name__ == "__main__":
    main()
