"""Asana's webhook target: ``POST /asana/webhook`` and ``POST /asana/webhook/{prefix}``. Public, no JWT.

It fails closed. A handshake's ``X-Hook-Secret`` is accepted only for a webhook this integration registered and is
still waiting for it, and a delivery only with a valid ``X-Hook-Signature``. Registering webhooks (and with it the
per-webhook secret store) is the webhook-management work that follows; until then no webhook is pending or
registered, so every request is refused with 404 and nothing is stored: an attacker cannot plant a secret.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from asana_integration.errors import NotFound
from asana_integration.observability import logger, metrics
from asana_integration.web.resolver import create_resolver

app = create_resolver()


def unknown_webhook() -> NotFound:
    return NotFound(
        "No Asana webhook is registered for this URL.",
        "Create webhooks from SecureDB's Asana settings, so the integration expects the handshake; webhooks created "
        "by hand in Asana are refused.",
        code="unknown_webhook",
    )


@app.post("/asana/webhook")
@app.post("/asana/webhook/<prefix>")
def receive(prefix: str | None = None) -> dict[str, Any]:
    handshake = app.current_event.headers.get("x-hook-secret") is not None
    logger.warning("webhook request refused", extra={"prefix": prefix, "handshake": handshake})
    raise unknown_webhook()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
