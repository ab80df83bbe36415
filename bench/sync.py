"""The data sync's figures (issue 9), each against the bound the issue sets, measured in-process: the real dispatcher
and worker handlers, moto's DynamoDB and SQS (the worker fed as Lambda's event source would, one batch at a time),
and the Asana sandbox with a generated organization.

1. ``full_sync``: Asana calls (HTTP requests) of a first full sync ÷ the pagination minimum (Σ ⌈items/100⌉ over every
   list, an empty list counting its one call). Bound: at most the minimum + 5. A first sync also takes one Events API
   sync token per imported project, ten projects a Batch API request; Asana's rate limit counts each of those actions,
   so the run's cost against the limit is reported beside its calls (a later full sync takes no token).
2. ``unchanged_sync``: mirror items written by a second, unchanged full sync. Bound: 0. Its bookkeeping writes (run
   record, unit markers, rate budget, cursors) are reported apart.
3. ``incremental_sync``: Asana calls of an incremental sync with nothing changed, per imported project. Bound: ≤ 1.
4. ``rate_limited_sync``: wall time of a full sync ÷ (its cost against the rate limit ÷ the rate limit), with the
   sandbox's limit and the deployment's ``ASANA_RATE_LIMIT_PER_MINUTE`` equal and low enough that the limit, not the
   machine, sets the pace. Bound: ≤ 1.2. Its 429s are reported (expected: 0).
5. ``dispatcher``: the scheduled dispatcher with 10,000 connected organizations: SQS requests per organization, and
   its wall time (registry read in moto, messages built and sent to an SQS that answers at once, plus a stated 20 ms a
   request) as a share of the function's timeout (template.yaml).

moto copies a whole table on every ``TransactWriteItems`` (one per unit here); ``item_level_transaction_backups``
makes that cost what it costs on AWS, so the figures measure the sync, not moto.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

DISPATCH_ORGANIZATIONS = 10_000
ORG = "bench-org"


@dataclass
class Harness:
    services: Any
    sandbox: Any
    resources: Any
    dispatcher: Any
    loop: Any
    writes: Any

    def run(self, mode: str) -> Any:
        from tests.events import LambdaContext

        self.dispatcher.lambda_handler({"mode": mode}, LambdaContext(timeout_seconds=120))
        self.loop.drain(max_invocations=100_000)
        return self.services.sync_state.recent_runs(ORG)[0]


@contextmanager
def harness(size: Any, *, rate_limit: int = 1_000_000) -> Iterator[Harness]:
    """moto and a sandbox serving a generated organization, the sync's handlers wired to them, one organization
    connected with the demo PAT and every project with tasks imported."""
    from moto import mock_aws

    from asana_integration.config import get_config
    from asana_integration.models.credentials import OrgCredentials
    from asana_integration.web.dependencies import Services
    from functions.sync import dispatcher, worker
    from local.asana_sandbox import AsanaSandbox, demo
    from local.moto_costs import item_level_transaction_backups
    from tests.aws import create_resources
    from tests.sync_harness import MirrorWrites, SqsLoop

    with mock_aws(), AsanaSandbox(port=0, dataset=size) as sandbox, item_level_transaction_backups():
        sandbox.set_rate_limit(rate_limit)
        resources = create_resources("bench-sync")
        os.environ.update(
            {
                "TABLE_NAME": resources.table_name,
                "MIRROR_TABLE_NAME": resources.mirror_table_name,
                "SYNC_QUEUE_URL": resources.sync_queue_url,
                "KMS_KEY_ID": resources.kms_key_arn,
                "ASANA_API_BASE_URL": sandbox.api_base_url,
                "ASANA_OAUTH_BASE_URL": sandbox.oauth_base_url,
                "ASANA_RATE_LIMIT_PER_MINUTE": str(min(rate_limit, 100_000)),
            }
        )
        get_config.cache_clear()
        services = Services()
        credentials = OrgCredentials.model_validate(
            {"client_id": demo.DEMO_APP_CLIENT_ID, "client_secret": demo.DEMO_APP_CLIENT_SECRET, "pat": demo.DEMO_PAT}
        )
        services.credentials.save(ORG, credentials)
        services.organizations.register(ORG, "connected")
        for project_gid in sorted({m.project_gid for t in sandbox.state.store.tasks.values() for m in t.memberships}):
            services.sync_state.add_import(ORG, project_gid, imported_by="bench")
        worker.get_services = lambda: services  # type: ignore[attr-defined]
        dispatcher.get_services = lambda: services  # type: ignore[attr-defined]
        writes = MirrorWrites().install(services.mirror_table)
        try:
            yield Harness(services, sandbox, resources, dispatcher, SqsLoop(resources.sync_queue_url, worker), writes)
        finally:
            services.asana_session.close()


def pagination_minimum(harness: Harness) -> tuple[int, int]:
    """(Σ max(1, ⌈items/100⌉) over every list a full sync reads, the number of imported projects)."""
    from local.asana_sandbox import demo
    from tests.sync_harness import expected_mirror

    imported = [project.gid for project in harness.services.sync_state.imports(ORG)]
    expected = expected_mirror(harness.sandbox.state, demo.DEMO_ADMIN_USER_GID, imported)
    store = harness.sandbox.state.store

    def pages(count: int) -> int:
        return max(1, math.ceil(count / 100))

    workspaces = expected["WORKSPACE"]
    organizations = [gid for gid, workspace in workspaces.items() if workspace["is_organization"]]
    total = pages(len(workspaces))
    for gid in workspaces:
        total += pages(sum(1 for user in store.users.values() if gid in user.workspace_gids))
        total += pages(sum(1 for project in expected["PROJECT"].values() if project["workspace_gid"] == gid))
    for gid in organizations:
        total += pages(sum(1 for team in expected["TEAM"].values() if team["workspace_gid"] == gid))
    for team_gid in expected["TEAM"]:
        total += pages(sum(1 for m in expected["MEMBERSHIP"].values() if m["team_gid"] == team_gid))
    total += sum(pages(len(expected[f"TASK#{gid}"])) for gid in imported)
    return total, len(imported)


def call_figures(size: Any) -> dict[str, Any]:
    """Figures 1 to 3 on one organization: first full sync, unchanged full sync, quiet incremental sync."""
    with harness(size) as h:
        minimum, imported = pagination_minimum(h)
        requests_before = h.sandbox.request_count()
        counted_before = h.sandbox.request_count(with_batch_actions=True)
        started = time.perf_counter()
        first = h.run("full")
        first_seconds = time.perf_counter() - started
        batches = h.sandbox.request_count("POST", "/api/1.0/batch")
        # What Asana's rate limit counts: every request, a batch's actions instead of the batch.
        rate_limit_cost = h.sandbox.request_count(with_batch_actions=True) - counted_before - batches
        assert h.sandbox.request_count() - requests_before == first.asana_calls
        h.writes.clear()
        second = h.run("full")
        unchanged_writes, bookkeeping = h.writes.total(), h.writes.bookkeeping
        quiet = h.run("incremental")
        assert first.status == second.status == quiet.status == "succeeded", (first, second, quiet)
        return {
            "full_sync": {
                "calls": first.asana_calls,
                "pagination_minimum": minimum,
                "calls_over_minimum": first.asana_calls - minimum,
                "ratio": first.asana_calls / minimum,
                "sync_token_batches": batches,
                "first_sync_tokens": imported,
                "rate_limit_cost": rate_limit_cost,
                "second_full_sync_calls": second.asana_calls,
                "bound": "calls <= minimum + 5",
                "met": first.asana_calls <= minimum + 5 and second.asana_calls <= minimum + 5,
                "entities_created": sum(counts.created for counts in first.counts.values()),
                "seconds": first_seconds,
            },
            "unchanged_sync": {
                "mirror_writes": unchanged_writes,
                "bookkeeping_writes": bookkeeping,
                "bound": "0 mirror writes",
                "met": unchanged_writes == 0,
            },
            "incremental_sync": {
                "calls": quiet.asana_calls,
                "imported_projects": imported,
                "calls_per_project": quiet.asana_calls / imported,
                "bound": "<= 1 call per imported project",
                "met": quiet.asana_calls <= imported,
            },
        }


def rate_limited_figure(size: Any, per_minute: int) -> dict[str, Any]:
    with harness(size, rate_limit=per_minute) as h:
        counted_before = h.sandbox.request_count(with_batch_actions=True)
        started = time.perf_counter()
        run = h.run("full")
        seconds = time.perf_counter() - started
        limited = sum(1 for request in h.sandbox.requests() if request.status == 429)
        # The limit counts a batch's actions, not the batch: the pace is set by that cost, not by the calls.
        cost = h.sandbox.request_count(with_batch_actions=True) - counted_before
        cost -= h.sandbox.request_count("POST", "/api/1.0/batch")
        ideal = cost / (per_minute / 60)
        return {
            "rate_limit_per_minute": per_minute,
            "calls": run.asana_calls,
            "rate_limit_cost": cost,
            "seconds": seconds,
            "ideal_seconds": ideal,
            "ratio": seconds / ideal,
            "asana_429s": limited,
            "bound": "<= 1.2",
            "met": seconds / ideal <= 1.2,
        }


class InstantSqs:
    """SQS answering every ``SendMessageBatch`` at once, counting requests and messages. moto's queue recounts all its
    messages on every send (minutes for 10,000), which would measure moto; AWS's latency is added as a stated figure."""

    def __init__(self) -> None:
        self.requests = 0
        self.messages = 0

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.requests += 1
        self.messages += len(Entries)
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries], "Failed": []}


# A SendMessageBatch of 10 small messages within a region; generous for SQS's usual single-digit milliseconds.
SQS_REQUEST_SECONDS = 0.02


def dispatcher_figure() -> dict[str, Any]:
    import boto3
    from moto import mock_aws

    from asana_integration.config import get_config
    from asana_integration.sync.queue import UnitQueue
    from asana_integration.web.dependencies import Services
    from functions.sync import dispatcher
    from local.template import functions
    from tests.aws import create_resources
    from tests.events import LambdaContext

    timeout = next(spec.timeout for spec in functions() if spec.logical_id == "SyncDispatcherFunction")
    with mock_aws():
        resources = create_resources("bench-dispatch")
        os.environ.update({"TABLE_NAME": resources.table_name, "SYNC_QUEUE_URL": resources.sync_queue_url})
        get_config.cache_clear()
        services = Services()
        with boto3.resource("dynamodb").Table(resources.table_name).batch_writer() as batch:
            for n in range(DISPATCH_ORGANIZATIONS):
                batch.put_item(Item={"pk": "ORGANIZATIONS", "sk": f"org-{n:05d}", "state": "connected"})
            batch.put_item(Item={"pk": "ORGANIZATIONS", "sk": "org-unconnected", "state": "requires_connection"})
        sqs = InstantSqs()
        services.sync_queue = UnitQueue(sqs, resources.sync_queue_url)  # type: ignore[arg-type]
        dispatcher.get_services = lambda: services  # type: ignore[attr-defined]
        started = time.perf_counter()
        result = dispatcher.lambda_handler({"mode": "incremental"}, LambdaContext(timeout_seconds=timeout))
        seconds = time.perf_counter() - started
        assert result["organizations"] == sqs.messages == DISPATCH_ORGANIZATIONS, result
        projected = seconds + sqs.requests * SQS_REQUEST_SECONDS
        return {
            "organizations": DISPATCH_ORGANIZATIONS,
            "sqs_requests": sqs.requests,
            "sqs_requests_per_organization": sqs.requests / DISPATCH_ORGANIZATIONS,
            "seconds_without_sqs_latency": seconds,
            "assumed_seconds_per_sqs_request": SQS_REQUEST_SECONDS,
            "projected_seconds": projected,
            "timeout_seconds": timeout,
            "share_of_timeout": projected / timeout,
            "bound": "0.1 SQS request per organization; at most a quarter of the function's timeout",
            "met": sqs.requests == math.ceil(DISPATCH_ORGANIZATIONS / 10) and projected <= timeout / 4,
        }


def figures(*, large: bool = True) -> dict[str, Any]:
    from local.asana_sandbox.large_org import LARGE, OrgSize

    # The large organization (2,000 users, 300 teams, 5,000 projects, 20,000 tasks in 20 imported projects)
    # for the call counts. The paced run takes calls ÷ limit seconds by design: ~160 calls (most of them one per team)
    # at 240 a minute, far more than the bucket's burst of 24, so the limit sets the pace for most of the run.
    size = LARGE if large else OrgSize(users=400, teams=40, projects=800, imported_tasks=2_000, task_projects=4)
    paced = OrgSize(users=300, teams=120, projects=1_000, imported_tasks=2_000, task_projects=4, deactivated_users=5)
    # The functions print their EMF metrics to stdout, as Lambda wants them; here they would bury the report.
    with contextlib.redirect_stdout(io.StringIO()):
        results = call_figures(size)
        results["rate_limited_sync"] = rate_limited_figure(paced, per_minute=240)
        results["dispatcher"] = dispatcher_figure()
    results["organization"] = {
        "users": size.users,
        "teams": size.teams,
        "projects": size.projects,
        "imported_tasks": size.imported_tasks,
        "imported_projects": results["incremental_sync"]["imported_projects"],  # the demo's task project too
    }
    return results


def report(results: dict[str, Any]) -> list[str]:
    full, unchanged = results["full_sync"], results["unchanged_sync"]
    incremental, paced, dispatch = results["incremental_sync"], results["rate_limited_sync"], results["dispatcher"]

    def verdict(row: dict[str, Any]) -> str:
        return "ok" if row["met"] else "NOT MET"

    org = results["organization"]
    return [
        f"sync of an organization of {org['users']} users, {org['teams']} teams, {org['projects']} projects, "
        f"{org['imported_tasks']} tasks in {org['imported_projects']} imported projects",
        f"  full sync        calls {full['calls']} = minimum {full['pagination_minimum']} "
        f"+ {full['calls_over_minimum']} (x{full['ratio']:.3f}; {full['sync_token_batches']} Batch API requests "
        f"took {full['first_sync_tokens']} first sync tokens; {full['rate_limit_cost']} against Asana's rate limit); "
        f"again: {full['second_full_sync_calls']} calls  [{verdict(full)}]",
        f"  unchanged sync   mirror writes {unchanged['mirror_writes']} "
        f"(bookkeeping {unchanged['bookkeeping_writes']})  [{verdict(unchanged)}]",
        f"  incremental      {incremental['calls_per_project']:.2f} calls per imported project "
        f"({incremental['calls']} for {incremental['imported_projects']})  [{verdict(incremental)}]",
        f"  paced full sync  wall / (cost / limit) x{paced['ratio']:.2f} ({paced['rate_limit_cost']} at "
        f"{paced['rate_limit_per_minute']}/min in {paced['seconds']:.1f} s, {paced['asana_429s']} 429s)  "
        f"[{verdict(paced)}]",
        f"  dispatcher       {dispatch['sqs_requests_per_organization']:.2f} SQS requests per organization; "
        f"{dispatch['organizations']} organizations in {dispatch['seconds_without_sqs_latency']:.1f} s + "
        f"{dispatch['sqs_requests']} x {dispatch['assumed_seconds_per_sqs_request'] * 1000:.0f} ms of SQS = "
        f"{dispatch['projected_seconds']:.1f} s, {dispatch['share_of_timeout']:.0%} of its "
        f"{dispatch['timeout_seconds']} s timeout  [{verdict(dispatch)}]",
    ]
