"""AWS in local mode: moto in server mode, with the template's resources created from the template's definitions.

The functions' boto3 clients reach moto with no code change: boto3 honours ``AWS_ENDPOINT_URL``. :func:`aws_environment`
is everything a process needs so that nothing can reach a real AWS account: the endpoint, dummy credentials, a region,
no profile or session token, config files that do not exist (a developer's ``~/.aws/config`` could name other
endpoints or credential processes), no per-service endpoint overrides, and no instance metadata lookups.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import urllib.request
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from moto.server import ThreadedMotoServer

from local.gateway.environment import LOCAL_DEPLOYMENT
from local.gateway.runtime import ACCOUNT_ID, REGION, STACK_NAME
from local.moto_costs import item_level_transaction_backups, partition_scoped_queries
from local.template import ROOT, TemplateError, load_template, local_intrinsics, table_definition, ttl_attribute

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

DUMMY_ACCESS_KEY = "testing"  # the same dummies tests/conftest.py uses, so a test's fixtures and the stack agree
DUMMY_SECRET_KEY = "testing"
_NO_FILE = str(ROOT / ".local-state" / "no-aws-config")  # never created: botocore then reads no config at all


def aws_environment(endpoint_url: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": _NO_FILE,
        "AWS_SHARED_CREDENTIALS_FILE": _NO_FILE,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def aws_variables_to_remove() -> tuple[str, ...]:
    """Variables that would take precedence over the local endpoint or credentials."""
    fixed = (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    )
    per_service = tuple(name for name in os.environ if name.startswith("AWS_ENDPOINT_URL_"))
    return fixed + per_service


@dataclass(frozen=True)
class LocalResources:
    """What the template's ``!Ref``/``!GetAtt`` resolve to locally: ``{"IntegrationTable": <name>,
    "IntegrationKey.Arn": <arn>, ...}``."""

    references: Mapping[str, str] = field(default_factory=dict)


class LocalAws:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host, self._port = host, port
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self._started = False
        self._session: boto3.Session | None = None
        self._clients: dict[str, Any] = {}
        self._moto_costs = ExitStack()

    def start(self) -> LocalAws:
        _ensure_free(self._host, self._port)
        # DynamoDB's item-level costs, not moto's whole-table ones: a large organization's sync stays fast and small.
        # The transaction backups assume one DynamoDB request at a time, which _DynamoDbRequestsOneAtATime ensures.
        self._moto_costs.enter_context(item_level_transaction_backups())
        self._moto_costs.enter_context(partition_scoped_queries())
        self._server.start()
        self._started = True
        # moto builds its WSGI server in start(); only the app it serves is wrapped.
        wsgi = self._server._server
        if wsgi is not None:
            wsgi.app = _DynamoDbRequestsOneAtATime(wsgi.app)
        # moto's backends are per process, not per server: a stack started earlier in this process (a test run)
        # would leave its tables behind. Every stack starts from an empty account.
        self.reset()
        return self

    def reset(self) -> None:
        """Empty the account: every resource of every service goes."""
        reset = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")  # noqa: S310 - ours
        with urllib.request.urlopen(reset, timeout=10):  # noqa: S310 - our own loopback URL
            pass

    def stop(self) -> None:
        if self._started:
            self._server.stop()
            self._started = False
        self._moto_costs.close()

    @property
    def endpoint_url(self) -> str:
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    def session(self) -> boto3.Session:
        """One session for the stack's own calls (creating one reads botocore's models again: a tenth of a second)."""
        if self._session is None:
            self._session = boto3.Session(
                aws_access_key_id=DUMMY_ACCESS_KEY, aws_secret_access_key=DUMMY_SECRET_KEY, region_name=REGION
            )
        return self._session

    def client(self, service: str) -> Any:
        """A client of this moto for ``service``, made once (clients are thread-safe; making one takes a while)."""
        if service not in self._clients:
            self._clients[service] = self.session().client(service, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]
        return self._clients[service]

    def sqs(self) -> SQSClient:
        client: SQSClient = self.client("sqs")
        return client

    def create_resources(self, template: Mapping[str, Any] | None = None) -> LocalResources:
        """Every table, key and queue the template declares, created in moto with the template's properties.

        Not created: the CloudWatch alarms (their metric, SQS's ApproximateNumberOfMessagesVisible, is published by
        CloudWatch, which moto does not derive from its queues, and nothing local reads an alarm's state), and what
        only exists on AWS around the code (roles, the HTTP API, the schedule, the layer), which the gateway plays.
        A key's policy is not applied either: moto does not evaluate key policies or IAM."""
        template = template or load_template()
        references: dict[str, str] = {}
        queues: dict[str, Mapping[str, Any]] = {}
        # Keys first: tables and queues may name them.
        ordered = sorted(template["Resources"].items(), key=lambda item: item[1]["Type"] != "AWS::KMS::Key")
        for logical_id, resource in ordered:
            kind, props = resource["Type"], resource.get("Properties", {})
            if kind == "AWS::KMS::Key":
                kms = self.client("kms")
                key = kms.create_key(Description=str(props.get("Description", logical_id)))["KeyMetadata"]
                if props.get("EnableKeyRotation"):
                    kms.enable_key_rotation(KeyId=key["KeyId"])
                references[logical_id] = key["KeyId"]
                references[f"{logical_id}.Arn"] = key["Arn"]
            elif kind == "AWS::DynamoDB::Table":
                dynamodb = self.client("dynamodb")
                name = f"{STACK_NAME}-{logical_id}"
                dynamodb.create_table(TableName=name, **table_definition(logical_id, template))
                if "TimeToLiveSpecification" in props:
                    dynamodb.update_time_to_live(
                        TableName=name,
                        TimeToLiveSpecification={"AttributeName": ttl_attribute(logical_id, template), "Enabled": True},
                    )
                references[logical_id] = name
                references[f"{logical_id}.Arn"] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"
            elif kind == "AWS::SQS::Queue":
                queues[logical_id] = props
        self._create_queues(queues, references, template)
        return LocalResources(references)

    def _create_queues(
        self,
        queues: Mapping[str, Mapping[str, Any]],
        references: dict[str, str],
        template: Mapping[str, Any],
    ) -> None:
        """Queues with their template attributes, intrinsics evaluated. A queue whose ``RedrivePolicy`` names another
        is created after it: SQS (and moto) refuse a dead-letter target that does not exist yet."""
        sqs = self.sqs()
        waiting = dict(queues)
        while waiting:
            ready = [
                logical_id for logical_id, props in waiting.items() if not (_queue_dependencies(props) & waiting.keys())
            ]
            if not ready:
                raise TemplateError(f"queues whose RedrivePolicy names each other: {', '.join(sorted(waiting))}")
            for logical_id in ready:
                props = local_intrinsics(references, template, LOCAL_DEPLOYMENT).resolve(waiting.pop(logical_id))
                fifo = bool(props.get("FifoQueue"))
                name = str(props.get("QueueName", f"{STACK_NAME}-{logical_id}{'.fifo' if fifo else ''}"))
                attributes = {k: _queue_attribute(v) for k, v in props.items() if k in _QUEUE_ATTRIBUTES}
                url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
                references[logical_id] = url
                references[f"{logical_id}.Arn"] = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"
                references[f"{logical_id}.QueueName"] = name
                references[f"{logical_id}.QueueUrl"] = url

    def assert_local(self) -> None:
        """Fail loudly unless the process's default boto3 configuration talks to this moto: a guard against a stray
        variable or config file pointing the functions at a real account."""
        sts = boto3.client("sts")
        identity, endpoint = sts.get_caller_identity(), sts.meta.endpoint_url
        if identity["Account"] != ACCOUNT_ID or endpoint != self.endpoint_url:
            raise RuntimeError(f"boto3 is not configured for local AWS (endpoint {endpoint}); refusing to continue")


class _DynamoDbRequestsOneAtATime:
    """DynamoDB applies each request atomically (an UpdateItem's ``SET pending = pending - :one``, a transaction);
    moto's server answers requests on threads and locks nothing, so two concurrent updates of one item can lose one.
    Local mode runs functions concurrently (the SQS event sources' MaximumConcurrency), so DynamoDB requests go one at
    a time here. Other services are left concurrent."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
            return self._app(environ, start_response)
        with self._lock:
            return list(self._app(environ, start_response))  # the whole answer, while no other request runs


def _ensure_free(host: str, port: int) -> None:
    """ThreadedMotoServer binds in its own thread and, when the port is taken, waits forever for a server that never
    starts; so check first (as werkzeug binds: with SO_REUSEADDR)."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise OSError(error.errno, f"cannot listen on {host}:{port} for moto ({error.strerror})") from None


def _queue_dependencies(props: Mapping[str, Any]) -> set[str]:
    """Logical ids a queue's RedrivePolicy refers to (``!GetAtt Dlq.Arn``, ``!Ref``, ``!Sub "${Dlq.Arn}"``)."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for key, item in value.items():
                if key == "Fn::GetAtt":
                    found.add(item[0] if isinstance(item, list) else str(item).split(".", 1)[0])
                elif key == "Ref":
                    found.add(str(item))
                else:
                    if key == "Fn::Sub":
                        found.update(_SUB_NAME.findall(item if isinstance(item, str) else str(item[0])))
                    walk(item)

    walk(props.get("RedrivePolicy", {}))
    return found


_SUB_NAME = re.compile(r"\$\{([A-Za-z0-9]+)[.}]")


def _queue_attribute(value: Any) -> str:
    # CreateQueue takes every attribute as a string: a policy as JSON, a boolean in lower case.
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value).lower() if isinstance(value, bool) else str(value)


# CloudFormation properties of AWS::SQS::Queue that are also CreateQueue attributes, by the same name.
_QUEUE_ATTRIBUTES = frozenset(
    {
        "ContentBasedDeduplication",
        "DeduplicationScope",
        "DelaySeconds",
        "FifoQueue",
        "FifoThroughputLimit",
        "KmsDataKeyReusePeriodSeconds",
        "KmsMasterKeyId",
        "MaximumMessageSize",
        "MessageRetentionPeriod",
        "ReceiveMessageWaitTimeSeconds",
        "RedriveAllowPolicy",
        "RedrivePolicy",
        "SqsManagedSseEnabled",
        "VisibilityTimeout",
    }
)
