"""Webhook management and the webhook health check act with the organization's OAuth connection when no PAT is saved,
and renew its expired access token themselves (the renewed token is stored encrypted: the paths that prove these
functions need ``kms:Encrypt`` and the token's ``UpdateItem``, ``tests/zz_audit/test_iam_least_privilege.py``)."""

from __future__ import annotations

from typing import Any

from asana_integration.config import get_config
from asana_integration.web.dependencies import get_services
from tests.events import LambdaContext
from tests.handlers.conftest import function_module, make_caller
from tests.handlers.test_oauth_callback import connect_flow, oauth
from tests.handlers.webhook_api_support import PROJECT, PublicWebhookUrl

__all__ = ["oauth"]  # the fixture, shared with the oauth_callback tests


def test_management_and_the_health_check_renew_an_expired_organization_token(oauth, services, sandbox, monkeypatch):
    connect_flow(oauth, sandbox, purpose="organization")  # an admin's Connect: no PAT is saved, so OAuth acts
    management = function_module("webhook", "management")
    with PublicWebhookUrl() as public:
        # The tenant's webhook URL is the loopback server in front of the webhook function.
        monkeypatch.setenv("PUBLIC_BASE_URL", public.base_url)
        monkeypatch.setenv("ALLOWED_TENANT_HOSTS", public.host)
        get_config.cache_clear()
        vars(services).clear()  # this execution environment reads its (new) configuration again
        monkeypatch.setitem(management.app.dependency_overrides, get_services, lambda: services)
        sandbox.expire_access_tokens()

        status, created = make_caller(management)("POST", "/asana/api/webhooks", body={"resource": PROJECT})

        assert status == 201, created
        assert sandbox.grant_count("refresh_token") == 1
        at_asana: dict[str, Any] | None = sandbox.webhooks.get(created["gid"])
        assert at_asana is not None
        assert at_asana["client_id"] is not None  # made with the OAuth app's token, not a PAT

        services.organizations.register("org-a", "connected")
        sandbox.expire_access_tokens()
        monkeypatch.setattr(function_module("webhook", "health"), "get_services", lambda: services)
        report = function_module("webhook", "health").lambda_handler({}, LambdaContext(timeout_seconds=300))

        assert report["webhooks_checked"] == 1
        assert report["unchecked_organizations"] == 0
        assert sandbox.grant_count("refresh_token") == 2
