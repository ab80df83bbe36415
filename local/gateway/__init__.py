"""The local stand-in for API Gateway (HTTP API) and Lambda: routes, JWT authorizer, payload 2.0 events, the functions'
real handlers in-process, their schedules (asynchronous invocations with Lambda's retries and destinations) and their
SQS event source mappings, all read from ``template.yaml``.

``local.stack`` wires it to moto, the Asana sandbox and the dev sign-in; tests may build a :class:`Gateway` directly.
"""

from local.gateway.app import Gateway
from local.gateway.async_config import AsyncConfig, Destination, async_configs
from local.gateway.async_invoke import AsyncDelivery, AsyncInvoker, PendingDelivery
from local.gateway.authorizer import AuthorizerConfig, JwtAuthorizer, OidcJwks, Unauthorized, authorizer_config
from local.gateway.destinations import Destinations
from local.gateway.routes import RouteTable
from local.gateway.runtime import FunctionHost, Invocation, LambdaContext
from local.gateway.schedules import Scheduler, ScheduleSpec, scheduled_event, schedules
from local.gateway.sqs_mappings import SqsMapping, sqs_mappings
from local.gateway.sqs_poller import BatchReport, DrainReport, EventSources, QueuePoller
from local.gateway.wsgi import BackgroundServer

__all__ = [
    "AsyncConfig",
    "AsyncDelivery",
    "AsyncInvoker",
    "AuthorizerConfig",
    "BackgroundServer",
    "BatchReport",
    "Destination",
    "Destinations",
    "DrainReport",
    "EventSources",
    "FunctionHost",
    "Gateway",
    "Invocation",
    "JwtAuthorizer",
    "LambdaContext",
    "OidcJwks",
    "PendingDelivery",
    "QueuePoller",
    "RouteTable",
    "ScheduleSpec",
    "Scheduler",
    "SqsMapping",
    "Unauthorized",
    "async_configs",
    "authorizer_config",
    "scheduled_event",
    "schedules",
    "sqs_mappings",
]
