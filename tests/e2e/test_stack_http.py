"""The local stack over HTTP: the gateway's own behaviour (certain) and the functions behind it.

Assertions marked "settings function" or "sync function" depend on code other engineers are writing; they check
only what PRODUCT.md promises (status codes, the ``{"error": {code, message, fix}}`` shape, the URLs to register).
Everything else is the gateway's, and mirrors API Gateway.
"""

from __future__ import annotations

import pytest
import requests

from local.asana_sandbox import demo
from local.dev_identity import DevIdentityProvider
from tests.conftest import RunningStack

pytestmark = pytest.mark.e2e

TIMEOUT = 30


def _get(stack: RunningStack, path: str, **kwargs: object) -> requests.Response:
    return requests.get(f"{stack.urls.gateway}{path}", timeout=TIMEOUT, **kwargs)  # type: ignore[arg-type]


def _assert_error_shape(response: requests.Response) -> None:
    error = response.json()["error"]
    assert {"code", "message", "fix"} <= error.keys()


# ------------------------------------------------------------------------------------------------ the gateway
def test_gateway_is_up_with_the_templates_routes(local_stack: RunningStack) -> None:
    assert _get(local_stack, "/_local/health").json() == {"status": "ok"}
    routes = {r["routeKey"]: r for r in _get(local_stack, "/_local/routes").json()["routes"]}
    assert routes["GET /asana/api/settings"]["authorizer"] == "jwt"
    assert routes["GET /asana/settings"]["authorizer"] is None


def test_no_token_is_401_from_the_gateway(local_stack: RunningStack) -> None:
    response = _get(local_stack, "/asana/api/settings")
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert "apigw-requestid" in response.headers


def test_token_from_another_issuer_is_401(local_stack: RunningStack) -> None:
    impostor = DevIdentityProvider(
        issuer=local_stack.stack.identity.issuer, audience="securedb-asana-integration", signed_in_url="http://x"
    )
    forged = impostor.sign(impostor.claims_for("admin"), headers={"kid": local_stack.stack.identity.kid})
    assert _get(local_stack, "/asana/api/settings", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_expired_token_is_401(local_stack: RunningStack) -> None:
    expired = local_stack.stack.token_for("admin", exp=1_000_000_000)
    assert _get(local_stack, "/asana/api/settings", headers={"Authorization": f"Bearer {expired}"}).status_code == 401


def test_undeclared_routes_are_404(local_stack: RunningStack) -> None:
    for method, path in [("GET", "/asana/api/nothing"), ("GET", "/asana/webhook"), ("PATCH", "/asana/api/settings")]:
        response = requests.request(method, f"{local_stack.urls.gateway}{path}", timeout=TIMEOUT)
        assert response.status_code == 404
        assert response.json() == {"message": "Not Found"}


def test_webhook_route_is_public(local_stack: RunningStack) -> None:
    # The gateway must let Asana's unauthenticated POST through; what the webhook function answers is its own affair.
    response = requests.post(f"{local_stack.urls.webhook}", data=b"{}", timeout=TIMEOUT)
    assert response.status_code != 401


# ------------------------------------------------------------------------------------------------ dev sign-in
def test_sign_in_lands_on_the_settings_page_with_a_working_token(local_stack: RunningStack) -> None:
    page = requests.get(local_stack.urls.signin, timeout=TIMEOUT)
    assert page.status_code == 200
    assert "Sign in as Dana Admin" in page.text
    response = requests.post(
        f"{local_stack.urls.signin}signin", data={"identity": "admin"}, allow_redirects=False, timeout=TIMEOUT
    )
    assert response.status_code == 303
    target, _, fragment = response.headers["Location"].partition("#token=")
    assert target == local_stack.urls.settings_page
    settings = _get(local_stack, "/asana/api/settings", headers={"Authorization": f"Bearer {fragment}"})
    assert settings.status_code == 200  # settings function: an admin may read the settings


# ------------------------------------------------------------------------------------------------ the functions
@pytest.mark.parametrize("path", ["/asana/settings", "/asana/settings/"])
def test_settings_page_answers(local_stack: RunningStack, path: str) -> None:
    response = _get(local_stack, path)
    assert response.status_code == 200  # oauth_callback function: neither code nor state -> the admin page
    assert response.headers["content-type"].startswith("text/html")


def test_admin_reads_settings_with_this_stacks_urls(local_stack: RunningStack) -> None:
    response = _get(local_stack, "/asana/api/settings", headers=local_stack.auth("admin"))
    assert response.status_code == 200
    # Settings function (PRODUCT.md): the exact redirect URIs and webhook URL, built from PUBLIC_BASE_URL and the
    # allowed tenant hosts the stack set from template.yaml.
    body = response.json()
    assert body["redirect_uris"] == list(local_stack.urls.redirect_uris)
    assert body["webhook_url"] == local_stack.urls.webhook


def test_tenant_urls_follow_an_allowed_host(local_stack: RunningStack) -> None:
    port = local_stack.urls.gateway.rsplit(":", 1)[1]
    headers = {**local_stack.auth("admin"), "Host": f"localhost:{port}"}
    body = _get(local_stack, "/asana/api/settings", headers=headers).json()
    # Settings function: "localhost:<port>" is in ALLOWED_TENANT_HOSTS, so the URLs use it.
    assert body["redirect_uris"][0] == f"http://localhost:{port}/asana/settings"


def test_member_is_refused_the_settings_api(local_stack: RunningStack) -> None:
    response = _get(local_stack, "/asana/api/settings", headers=local_stack.auth("member"))
    assert response.status_code == 403  # settings function: admins only
    _assert_error_shape(response)


def test_one_organization_never_sees_anothers_settings(local_stack: RunningStack) -> None:
    settings = f"{local_stack.urls.gateway}/asana/api/settings"
    saved = requests.put(
        settings,
        json={"client_id": demo.DEMO_APP_CLIENT_ID, "client_secret": demo.DEMO_APP_CLIENT_SECRET, "pat": demo.DEMO_PAT},
        headers=local_stack.auth("admin"),
        timeout=TIMEOUT,
    )
    try:
        assert saved.status_code == 200  # settings function: saved and verified against the sandbox
        own = _get(local_stack, "/asana/api/settings", headers=local_stack.auth("admin")).json()
        other = _get(local_stack, "/asana/api/settings", headers=local_stack.auth("other-admin")).json()
        # Settings function: the status names the saved client id, and only for its own organization.
        assert own["client_id"] == demo.DEMO_APP_CLIENT_ID
        assert other["client_id"] != demo.DEMO_APP_CLIENT_ID
    finally:
        requests.delete(settings, headers=local_stack.auth("admin"), timeout=TIMEOUT)


def test_scheduled_trigger_reaches_the_sync_function(local_stack: RunningStack) -> None:
    response = requests.post(f"{local_stack.urls.gateway}/_local/schedules/SyncFunction", timeout=320)
    body = response.json()
    assert (body["function"], body["schedule"]) == ("SyncFunction", "securedb-asana-local-sync-hourly")
    assert response.status_code == 200, body  # the sync function ran to completion on the scheduler's event
    assert body["outcome"] == "ok"


def test_scheduled_trigger_from_python(local_stack: RunningStack) -> None:
    invocation = local_stack.stack.fire_schedule("SyncFunction")
    assert invocation.outcome == "ok"
