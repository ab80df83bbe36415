"""The local stand-in for API Gateway (HTTP API) and Lambda: routes, JWT authorizer, payload 2.0 events, the functions'
real handlers in-process, and their schedules, all read from ``template.yaml``.

``local.stack`` wires it to moto, the Asana sandbox and the dev sign-in; tests may build a :class:`Gateway` directly.
"""

from local.gateway.app import Gateway
from local.gateway.authorizer import AuthorizerConfig, JwtAuthorizer, OidcJwks, Unauthorized, authorizer_config
from local.gateway.routes import RouteTable
from local.gateway.runtime import FunctionHost, Invocation, LambdaContext
from local.gateway.schedules import Scheduler, ScheduleSpec, scheduled_event, schedules
from local.gateway.wsgi import BackgroundServer

__all__ = [
    "AuthorizerConfig",
    "BackgroundServer",
    "FunctionHost",
    "Gateway",
    "Invocation",
    "JwtAuthorizer",
    "LambdaContext",
    "OidcJwks",
    "RouteTable",
    "ScheduleSpec",
    "Scheduler",
    "Unauthorized",
    "authorizer_config",
    "scheduled_event",
    "schedules",
]
