"""A save takes effect in every function at once: measured as stale uses, which must be 0.

On AWS each function runs in execution environments of its own, each with its own cache of the organization's
credentials. Here every environment is a ``Services`` of its own (its own Secrets Manager provider, cache included)
and each request is routed through the environment it would run in: the settings function saves, and *other*, warm
environments (each already holding the previous credentials in its cache) serve Connect, finish a connection after
Asana's redirect, and run a Quick Action right after. A stale use is one that acted on the previous credentials:

* Connect sends the browser to the previous app's consent page (its Client ID in the authorize URL);
* finishing the connection presents the previous Client Secret, which Asana (the sandbox) no longer accepts;
* a Quick Action runs on the previous PAT, which Asana has revoked.

Each scenario runs ``ROUNDS`` times, every round for an organization of its own, so each round starts with caches
that hold exactly the previous credentials when the save lands (the cache keeps a secret for 300 s).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from local.asana_sandbox import demo
from tests import log_audit
from tests.handlers.conftest import function_module, invoke
from tests.handlers.test_oauth_callback import consent

ROUNDS = 5
SETTINGS_URL = "https://expand.securedb.io/asana/settings"


@pytest.fixture
def environments(aws_with_sandbox: Any, sandbox: Any) -> dict[str, Any]:
    """Warm execution environments: the settings function that saves, and others that act right after."""
    from asana_integration.web.dependencies import Services

    for suffix in ("", "/"):
        sandbox.add_redirect_uri(demo.DEMO_APP_CLIENT_ID, SETTINGS_URL + suffix)
    return {name: Services() for name in ("saving", "connect", "complete", "quick_action", "redirect")}


@contextmanager
def running_in(environment: Any) -> Iterator[None]:
    """Route the next requests through ``environment`` (its stores and caches), as Lambda would one instance."""
    from asana_integration.web.dependencies import get_services

    apps = [function_module(name).app for name in ("settings", "oauth_callback")]
    for app in apps:
        app.dependency_overrides[get_services] = lambda: environment
    try:
        yield
    finally:
        for app in apps:
            app.dependency_overrides.pop(get_services, None)


def call(environment: Any, function: str, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    with running_in(environment):
        response = invoke(function_module(function), method, path, **kwargs)
    body = response.get("body") or ""
    return response["statusCode"], json.loads(body) if body.startswith("{") else response


def save(environments: dict[str, Any], org: str, **credentials: Any) -> None:
    status, body = call(environments["saving"], "settings", "PUT", "/asana/api/settings", org=org, body=credentials)
    assert status == 200, body


def test_connect_right_after_a_new_client_id_is_saved_opens_the_new_apps_consent_page(environments, sandbox):
    stale = Counter[str]()
    for round_ in range(ROUNDS):
        old = sandbox.register_app(f"old app {round_}", [SETTINGS_URL, SETTINGS_URL + "/"])
        new = sandbox.register_app(f"new app {round_}", [SETTINGS_URL, SETTINGS_URL + "/"])
        log_audit.remember(old.client_secret, new.client_secret)
        org = f"org-{round_}"
        save(environments, org, client_id=old.client_id, client_secret=old.client_secret)
        warm = call(environments["connect"], "oauth_callback", "POST", "/asana/api/connect", org=org, body={})
        assert parse_qs(urlsplit(warm[1]["connect_url"]).query)["client_id"] == [old.client_id]

        save(environments, org, client_id=new.client_id, client_secret=new.client_secret)
        status, body = call(environments["connect"], "oauth_callback", "POST", "/asana/api/connect", org=org, body={})

        assert status == 200, body
        if parse_qs(urlsplit(body["connect_url"]).query)["client_id"] != [new.client_id]:
            stale["connect"] += 1
    assert stale == Counter(), f"stale uses in {ROUNDS} rounds: {dict(stale)}"


def test_finishing_a_connection_right_after_a_corrected_secret_is_saved_uses_the_new_secret(environments, sandbox):
    app = sandbox.state.store.apps[demo.DEMO_APP_CLIENT_ID]
    stale = Counter[str]()
    for round_ in range(ROUNDS):
        org = f"org-{round_}"
        save(environments, org, client_id=app.client_id, client_secret=app.client_secret)
        # The finishing environment is warm: it read the credentials for an earlier Connect.
        _, started = call(environments["complete"], "oauth_callback", "POST", "/asana/api/connect", org=org, body={})
        path, query = consent(sandbox, started["connect_url"])
        # The admin rotates the secret in Asana, then saves the new one: the fix for a failing Connect.
        app.client_secret = f"rotated-secret-{round_}-{'x' * 24}"
        log_audit.remember(app.client_secret)
        save(environments, org, client_id=app.client_id, client_secret=app.client_secret)

        redirect = call(environments["redirect"], "oauth_callback", "GET", path, anonymous=True, query=query)[1]
        fragment = parse_qs(urlsplit(redirect["headers"]["Location"]).fragment)
        completion = {
            "state": fragment["asana_state"][0],
            "code": fragment["asana_code"][0],
            "completion_key": started["completion_key"],
        }
        status, body = call(
            environments["complete"], "oauth_callback", "POST", "/asana/api/connect/complete", org=org, body=completion
        )

        if status != 200:
            assert body["error"]["code"] == "client_rejected", body  # Asana refused the previous secret
            stale["complete"] += 1
    assert stale == Counter(), f"stale uses in {ROUNDS} rounds: {dict(stale)}"


def test_a_quick_action_right_after_a_new_pat_is_saved_runs_on_the_new_pat(environments, sandbox):
    base = {"client_id": demo.DEMO_APP_CLIENT_ID, "client_secret": demo.DEMO_APP_CLIENT_SECRET}
    log_audit.remember(demo.DEMO_APP_CLIENT_SECRET)
    stale = Counter[str]()
    for round_ in range(ROUNDS):
        org = f"org-{round_}"
        old_pat, new_pat = sandbox.issue_pat(demo.DEMO_ADMIN_USER_GID), sandbox.issue_pat(demo.DEMO_ADMIN_USER_GID)
        log_audit.remember(old_pat, new_pat)
        save(environments, org, **base, pat=old_pat)
        assert call(environments["quick_action"], "settings", "GET", "/asana/api/workspaces", org=org)[0] == 200

        save(environments, org, **base, pat=new_pat)
        sandbox.revoke_pat(old_pat)  # the admin replaced it because it was revoked in Asana
        status, body = call(environments["quick_action"], "settings", "GET", "/asana/api/workspaces", org=org)

        if status != 200:
            assert body["error"]["code"] == "asana_authentication_failed", body
            stale["quick_action"] += 1
    assert stale == Counter(), f"stale uses in {ROUNDS} rounds: {dict(stale)}"


def test_a_disconnect_reaches_every_function_at_once(environments):
    save(
        environments,
        "org-a",
        client_id=demo.DEMO_APP_CLIENT_ID,
        client_secret=demo.DEMO_APP_CLIENT_SECRET,
        pat=demo.DEMO_PAT,
    )
    log_audit.remember(demo.DEMO_PAT, demo.DEMO_APP_CLIENT_SECRET)
    assert call(environments["quick_action"], "settings", "GET", "/asana/api/workspaces")[0] == 200

    assert call(environments["saving"], "settings", "DELETE", "/asana/api/settings")[0] == 200
    status, body = call(environments["quick_action"], "settings", "GET", "/asana/api/workspaces")

    assert (status, body["error"]["code"]) == (409, "not_configured")
