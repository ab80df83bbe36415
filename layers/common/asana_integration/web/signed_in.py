"""The caller as a route dependency, remembering on the way the email they signed in to SecureDB with.

Email matching (``mapping/``) compares Asana users' emails with the email claim of SecureDB users who have signed in;
this is where the integration learns them, from verified claims only (``CLAIM_EMAIL``, default ``email``). Routes
that many users call anyway (the sync API, Connect) declare it, and the store keeps it cheap: at most one
conditional write per user a day, none at all from a warm environment that recorded them already. Remembering is a
side effect: when it fails the request goes on and the next one tries again.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.request import Request
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from botocore.exceptions import BotoCoreError, ClientError

from asana_integration.identity import Caller, caller_from_claims
from asana_integration.observability import logger
from asana_integration.web.dependencies import EnvironmentServices

_MAX_EMAIL = 254  # RFC 5321's limit on a forward path


def signed_in_caller(request: Request, services: EnvironmentServices) -> Caller:
    """The verified caller (401 without usable identity claims), their sign-in email remembered."""
    claims = _claims(request)
    caller = caller_from_claims(claims, services.config)
    email = claims.get(services.config.claim_email)
    if isinstance(email, str) and "@" in email and len(email) <= _MAX_EMAIL:
        try:
            # The name from the configured claim (``CLAIM_NAME``), cleaned as everywhere it is shown.
            services.signed_in_users.record(caller.org_id, caller.user_id, email, caller.name)
        except (ClientError, BotoCoreError) as error:
            logger.warning("could not remember the signed-in user's email", extra={"error": type(error).__name__})
    return caller


def _claims(request: Request) -> dict[str, Any]:
    event = request.resolved_event
    if not isinstance(event, APIGatewayProxyEventV2):  # every API function is an HTTP API (payload 2.0) function
        return {}
    return event.request_context.authorizer.jwt_claim


SignedInCaller = Annotated[Caller, Depends(signed_in_caller)]
