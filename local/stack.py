"""The whole local system in one process: moto, the Asana sandbox, the dev sign-in and the gateway with the real
handlers, wired the way ``template.yaml`` wires them on AWS. ``make run`` and the end-to-end tests both use it.

>>> with LocalStack(StackPorts()) as stack:                   # doctest: +SKIP
...     token = stack.token_for("admin")
...     requests.get(f"{stack.urls.gateway}/asana/api/settings", headers={"Authorization": f"Bearer {token}"})

Ports default to 0 (ephemeral, for tests); ``DEFAULT_PORTS`` are the fixed ones ``make run`` uses. The stack sets the
functions' environment in this process's ``os.environ`` while it runs (the handlers read it there) and restores the
previous values on stop; run one stack per process at a time.

The template's SQS event source mappings are polled in the background (``run_pollers``) as Lambda polls them; tests
and scripts can instead step them with :meth:`LocalStack.poll_once` and :meth:`LocalStack.drain_queues`. Scheduled
events are asynchronous invocations with Lambda's retries, their waits scaled by ``retry_delay_scale``.
"""

from __future__ import annotations

import errno
import logging
import sys
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import boto3

from local.asana_sandbox import AsanaSandbox, demo
from local.aws import LocalAws, LocalResources, aws_environment, aws_variables_to_remove
from local.dev_identity import DEMO_IDENTITIES, DemoIdentity, DevIdentityProvider
from local.gateway import (
    AsyncDelivery,
    AsyncInvoker,
    BackgroundServer,
    BatchReport,
    Destinations,
    DrainReport,
    EventSources,
    FunctionHost,
    Gateway,
    JwtAuthorizer,
    OidcJwks,
    QueuePoller,
    RouteTable,
    Scheduler,
    async_configs,
    authorizer_config,
    schedules,
    sqs_mappings,
)
from local.gateway.async_invoke import LOCAL_RETRY_DELAY_SCALE
from local.gateway.environment import (
    function_environments,
    lambda_log_level,
    merged_environment,
    process_environment,
)
from local.template import ROOT, load_template

_log = logging.getLogger("local.stack")

SETTINGS_PATH = "/asana/settings"
WEBHOOK_PATH = "/asana/webhook"


@dataclass(frozen=True)
class StackPorts:
    gateway: int = 0
    sandbox: int = 0
    aws: int = 0
    signin: int = 0


DEFAULT_PORTS = StackPorts(gateway=3000, sandbox=3010, aws=3020, signin=3030)


@dataclass(frozen=True)
class StackUrls:
    gateway: str
    settings_page: str
    redirect_uris: tuple[str, str]  # register both in the Asana app: with and without the trailing slash
    webhook: str
    signin: str
    jwks: str
    sandbox: str
    asana_api: str
    asana_oauth: str
    aws: str


class LocalStack:
    def __init__(
        self,
        ports: StackPorts = StackPorts(),
        *,
        host: str = "127.0.0.1",
        run_schedules: bool = True,
        run_pollers: bool = True,
        retry_delay_scale: float = LOCAL_RETRY_DELAY_SCALE,
        log_level: str = "INFO",
        template: Mapping[str, Any] | None = None,
    ) -> None:
        self.ports = ports
        self.host = host
        self.run_schedules = run_schedules
        self.run_pollers = run_pollers
        self.retry_delay_scale = retry_delay_scale
        self.log_level = log_level
        self.template = template or load_template()
        self._aws: LocalAws | None = None
        self._servers: list[BackgroundServer] = []
        self._sandbox: AsanaSandbox | None = None
        self._environment: AbstractContextManager[None] | None = None  # the functions' variables, while running
        self._scheduler: Scheduler | None = None
        self._event_sources: EventSources | None = None
        self._invoker: AsyncInvoker | None = None
        self._gateway: Gateway | None = None
        self._identity: DevIdentityProvider | None = None
        self._urls: StackUrls | None = None
        self.resources = LocalResources()

    # ------------------------------------------------------------------------------------------------ lifecycle
    def start(self) -> Self:
        if self._urls is not None:
            raise RuntimeError("this stack is already running")
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        _put_layers_on_path(self.template)
        self._aws = LocalAws(self.host, self.ports.aws).start()
        self.resources = self._aws.create_resources(self.template)
        # Bind first, serve later: every URL is known before anything that needs one is configured.
        gateway_server = self._bind(self.ports.gateway, "gateway")
        signin_server = self._bind(self.ports.signin, "dev-signin")
        self._sandbox = AsanaSandbox(host=self.host, port=self.ports.sandbox)
        self._sandbox.start()

        gateway_url = gateway_server.url
        # The gateway answers on both names; tenant URLs follow whichever the browser used.
        tenant_hosts = (f"127.0.0.1:{gateway_server.port}", f"localhost:{gateway_server.port}")
        self._register_redirect_uris(tenant_hosts)
        references = {
            **self.resources.references,
            "PublicBaseUrl": gateway_url,
            "AllowedTenantHosts": ",".join(tenant_hosts),
            "AsanaApiBaseUrl": self._sandbox.api_base_url,
            "AsanaOAuthBaseUrl": self._sandbox.oauth_base_url,
            "JwtIssuer": signin_server.url,
            "LogLevel": lambda_log_level(self.log_level),  # the template takes Lambda's spelling (WARN)
        }
        local_only = {
            "DEV_SIGNIN_URL": f"{signin_server.url}/",
            # Tracing Active has an X-Ray daemon beside it on AWS; there is none here.
            "POWERTOOLS_TRACE_DISABLED": "1",
        }
        environments = {
            fid: {**env, **local_only} for fid, env in function_environments(references, self.template).items()
        }
        self._environment = process_environment(
            {**merged_environment(environments), **aws_environment(self._aws.endpoint_url)},
            remove=aws_variables_to_remove(),
        )
        self._environment.__enter__()
        # A default session made earlier in this process caches credentials and config files: start afresh.
        boto3.DEFAULT_SESSION = None
        self._aws.assert_local()

        auth = authorizer_config(references, self.template)
        self._identity = DevIdentityProvider(
            issuer=signin_server.url, audience=auth.audiences[0], signed_in_url=f"{gateway_url}{SETTINGS_PATH}"
        )
        signin_server.serve(self._identity)
        specs = schedules(self.template)
        host = FunctionHost(self.template, root=ROOT, expected_environment=environments)
        # Lambda's own calls (polling, deleting, sending records): a client of its own, not the functions' default.
        sqs = self._aws.sqs()
        self._invoker = AsyncInvoker(
            host,
            async_configs(references, self.template),
            Destinations(sqs),
            retry_delay_scale=self.retry_delay_scale,
        )
        self._event_sources = EventSources(
            [QueuePoller(mapping, host, sqs) for mapping in sqs_mappings(references, self.template)]
        )
        self._gateway = Gateway(
            RouteTable.from_template(self.template),
            host,
            JwtAuthorizer(auth, OidcJwks(auth.issuer).key),  # trusts exactly one issuer: the dev sign-in
            specs,
            invoker=self._invoker,
            event_sources=self._event_sources,
        )
        gateway_server.serve(self._gateway)
        if self.run_pollers:
            self._event_sources.start()
        if self.run_schedules:
            self._scheduler = Scheduler(specs, self._gateway.fire_schedule)
            self._scheduler.start()
        self._urls = StackUrls(
            gateway=gateway_url,
            settings_page=f"{gateway_url}{SETTINGS_PATH}",
            redirect_uris=(f"{gateway_url}{SETTINGS_PATH}", f"{gateway_url}{SETTINGS_PATH}/"),
            webhook=f"{gateway_url}{WEBHOOK_PATH}",
            signin=f"{signin_server.url}/",
            jwks=self._identity.jwks_url,
            sandbox=self._sandbox.base_url,
            asana_api=self._sandbox.api_base_url,
            asana_oauth=self._sandbox.oauth_base_url,
            aws=self._aws.endpoint_url,
        )
        _log.info("local stack up: gateway %s", gateway_url)

    def stop(self) -> None:
        """Stop in reverse order of dependence; safe to call twice or after a failed start."""
        steps = [
            ("scheduler", self._scheduler.stop if self._scheduler else None),
            ("SQS pollers", self._event_sources.stop if self._event_sources else None),
            ("asynchronous invocations", self._invoker.stop if self._invoker else None),
            *[(f"server {s.port}", s.stop) for s in reversed(self._servers)],
            ("sandbox", self._sandbox.stop if self._sandbox else None),
            ("environment", self._restore_environment if self._environment else None),
            ("moto", self._aws.stop if self._aws else None),
        ]
        for name, step in steps:
            if step is None:
                continue
            try:
                step()
            except Exception:
                _log.exception("stopping %s failed", name)
        boto3.DEFAULT_SESSION = None
        self._scheduler = self._sandbox = self._environment = self._aws = self._gateway = self._identity = None
        self._event_sources = self._invoker = None
        self._servers = []
        self._urls = None

    def _restore_environment(self) -> None:
        if self._environment is not None:
            self._environment.__exit__(None, None, None)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------------------ use
    @property
    def urls(self) -> StackUrls:
        if self._urls is None:
            raise RuntimeError("the stack is not running")
        return self._urls

    @property
    def identity(self) -> DevIdentityProvider:
        if self._identity is None:
            raise RuntimeError("the stack is not running")
        return self._identity

    @property
    def gateway(self) -> Gateway:
        if self._gateway is None:
            raise RuntimeError("the stack is not running")
        return self._gateway

    @property
    def sandbox(self) -> AsanaSandbox:
        if self._sandbox is None:
            raise RuntimeError("the stack is not running")
        return self._sandbox

    @property
    def identities(self) -> tuple[DemoIdentity, ...]:
        return DEMO_IDENTITIES

    def token_for(self, identity: str | DemoIdentity, **claim_overrides: Any) -> str:
        """A bearer token the gateway accepts, for ``"admin"``, ``"member"`` or ``"other-admin"``."""
        return self.identity.token_for(identity, **claim_overrides)

    def fire_schedule(
        self, function: str, event_name: str | None = None, *, timeout: float | None = None
    ) -> AsyncDelivery:
        """Deliver a function's scheduled event now (as ``POST /_local/schedules/<function>`` does) and wait until it
        settles: succeeded, or failed after Lambda's retries with its record sent to the OnFailure destination."""
        return self.gateway.fire_schedule(self.gateway.schedule(function, event_name)).wait(timeout)

    def poll_once(self, queue: str) -> BatchReport | None:
        """Run one batch of the (single) mapping reading ``queue`` (its logical id) to the end; ``None`` if the queue
        had no visible message."""
        pollers = self.gateway.event_sources.for_queue(queue)
        if len(pollers) != 1:
            raise LookupError(f"{len(pollers)} mappings read {queue}; drain it instead")
        return pollers[0].poll_once()

    def drain_queues(
        self, queue: str | None = None, *, wait_for_invisible: bool = False, timeout: float = 60.0
    ) -> list[DrainReport]:
        """Run the mappings (of one queue, or all) until no message is visible and no batch is running, including
        what the functions queued meanwhile; ``wait_for_invisible`` also waits out messages in flight and delayed."""
        return self.gateway.event_sources.drain(queue, wait_for_invisible=wait_for_invisible, timeout=timeout)

    # ------------------------------------------------------------------------------------------------ helpers
    def _bind(self, port: int, name: str) -> BackgroundServer:
        try:
            server = BackgroundServer(self.host, port, name)
        except (OSError, SystemExit) as error:  # werkzeug exits the process on a busy port; a stack must not
            raise OSError(
                errno.EADDRINUSE, f"cannot listen on {self.host}:{port} for the {name}; choose another port"
            ) from error
        self._servers.append(server)
        return server

    def _register_redirect_uris(self, tenant_hosts: tuple[str, ...]) -> None:
        """The sandbox's demo OAuth apps list the default port's redirect URIs; on any other port (tests, a changed
        ``--port``) the stack's own exact URIs are added, so the demo apps work wherever the gateway listens."""
        for client_id in (demo.DEMO_APP_CLIENT_ID, demo.GRANULAR_APP_CLIENT_ID, demo.NO_SCOPES_APP_CLIENT_ID):
            for host in tenant_hosts:
                for suffix in ("", "/"):
                    self.sandbox.add_redirect_uri(client_id, f"http://{host}{SETTINGS_PATH}{suffix}")


def _put_layers_on_path(template: Mapping[str, Any]) -> None:
    """Layer code is importable in Lambda (``/opt/python``); here each layer's ContentUri plays that part."""
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            path = str((ROOT / resource["Properties"]["ContentUri"]).resolve())
            if path not in sys.path:
                sys.path.insert(0, path)


__all__ = ["DEFAULT_PORTS", "LocalStack", "StackPorts", "StackUrls"]
