"""The Asana REST client: pagination, retries, auth renewal, connectivity diagnostics, error mapping, no token leaks.

Asana is mocked with ``responses`` (no sockets). Waiting is recorded by a fake ``sleep``; the Lambda's remaining time
is a fake ``remaining_time_ms``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses

from asana_integration.asana.client import AsanaClient, Page
from asana_integration.asana.token_source import StaticToken
from asana_integration.config import Config
from asana_integration.errors import (
    SEED_AUTH_FAILED,
    AsanaAuthenticationFailed,
    AsanaError,
    AsanaForbidden,
    AsanaNotFound,
    AsanaRateLimited,
    AsanaRequestRejected,
    AsanaUnavailable,
    AsanaUnreachable,
    InvalidInput,
)
from asana_integration.observability import metrics

API = "https://app.asana.com/api/1.0"
TOKEN = "2/1208000000000001/1208999999999999:0a1b2c3d4e5f60718293a4b5c6d7e8f9"
NEW_TOKEN = "2/1208000000000001/1208999999999999:ffffeeeeddddccccbbbbaaaa99998888"


def make_config(**overrides: Any) -> Config:
    values = {"TABLE_NAME": "table", "KMS_KEY_ID": "alias/key", "PUBLIC_BASE_URL": "https://securedb.example.com"}
    return Config.model_validate({**values, **overrides})


class RecordingSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class RenewableToken:
    """An OAuth-like source: renews once, or never when ``renewable`` is false."""

    def __init__(self, *, renewable: bool = True) -> None:
        self.current = TOKEN
        self.renewable = renewable
        self.rejected: list[str] = []

    def access_token(self) -> str:
        return self.current

    def renew_after_rejection(self, rejected: str) -> str | None:
        self.rejected.append(rejected)
        if not self.renewable:
            return None
        self.current = NEW_TOKEN
        return NEW_TOKEN


@pytest.fixture
def asana() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture(autouse=True)
def _clear_metrics() -> Iterator[None]:
    yield
    metrics.clear_metrics()


def make_client(
    sleep: RecordingSleep,
    *,
    token_source: Any = None,
    remaining_ms: int | None = None,
    **config: Any,
) -> AsanaClient:
    return AsanaClient(
        token_source or StaticToken(TOKEN),
        make_config(**config),
        remaining_time_ms=(lambda: remaining_ms) if remaining_ms is not None else None,
        sleep=sleep,
    )


def error_body(message: str, help_text: str | None = None) -> dict[str, Any]:
    error = {"message": message}
    if help_text:
        error["help"] = help_text
    return {"errors": [error]}


def auth_header(request: Any) -> str:
    return str(request.headers["Authorization"])


# --- Pagination ----------------------------------------------------------------------------------------------------


def test_iterate_follows_offsets_sending_limit_and_fields(asana, sleep):
    first = {"limit": "100", "opt_fields": "name,email"}
    asana.get(
        f"{API}/users",
        match=[responses.matchers.query_param_matcher({**first, "workspace": "42"})],
        json={"data": [{"gid": "1"}, {"gid": "2"}], "next_page": {"offset": "eyJvZmZzZXQiOjJ9", "path": "/users"}},
    )
    asana.get(
        f"{API}/users",
        match=[responses.matchers.query_param_matcher({**first, "workspace": "42", "offset": "eyJvZmZzZXQiOjJ9"})],
        json={"data": [{"gid": "3"}], "next_page": None},
    )

    users = list(make_client(sleep).iterate("/users", {"workspace": "42"}, opt_fields=["name", "email"]))

    assert [user["gid"] for user in users] == ["1", "2", "3"]
    assert all(auth_header(call.request) == f"Bearer {TOKEN}" for call in asana.calls)


def test_get_page_passes_the_callers_offset_and_returns_next_offset(asana, sleep):
    asana.get(
        f"{API}/projects",
        match=[
            responses.matchers.query_param_matcher(
                {
                    "workspace": "1201",
                    "offset": "off-1",
                    "limit": "100",
                    "opt_fields": "name,archived,team.name,permalink_url",
                }
            )
        ],
        json={"data": [{"gid": "9", "name": "Vuln triage"}], "next_page": {"offset": "off-2"}},
    )

    page = make_client(sleep).projects_page("1201", "off-1")

    assert page == Page(data=[{"gid": "9", "name": "Vuln triage"}], next_offset="off-2")


def test_last_page_has_no_next_offset(asana, sleep):
    asana.get(
        f"{API}/workspaces/1201/teams",
        match=[responses.matchers.query_param_matcher({"limit": "100", "opt_fields": "name,permalink_url"})],
        json={"data": [{"gid": "7"}], "next_page": None},
    )

    assert make_client(sleep).teams_page("1201").next_offset is None


def test_workspaces_and_me_send_their_default_fields(asana, sleep):
    asana.get(
        f"{API}/workspaces",
        match=[responses.matchers.query_param_matcher({"limit": "100", "opt_fields": "name,is_organization"})],
        json={"data": [{"gid": "1201", "name": "Acme", "is_organization": True}], "next_page": None},
    )
    asana.get(
        f"{API}/users/me",
        match=[responses.matchers.query_param_matcher({"opt_fields": "name,email,workspaces.name"})],
        json={"data": {"gid": "5", "name": "Ada", "email": "ada@example.com", "workspaces": []}},
    )
    client = make_client(sleep)

    assert client.workspaces_page().data[0]["name"] == "Acme"
    assert client.me()["email"] == "ada@example.com"


def test_boolean_params_are_sent_as_asana_spells_them(asana, sleep):
    asana.get(
        f"{API}/projects",
        match=[responses.matchers.query_param_matcher({"workspace": "1", "archived": "false"})],
        json={"data": {}},
    )

    make_client(sleep).get("/projects", {"workspace": "1", "archived": False, "team": None})


def test_a_non_numeric_workspace_gid_never_reaches_the_url(asana, sleep):
    with pytest.raises(InvalidInput):
        make_client(sleep).teams_page("../users/me")

    assert len(asana.calls) == 0


def test_page_limit_outside_asanas_range_is_refused(sleep):
    with pytest.raises(ValueError, match="limit"):
        make_client(sleep).get_page("/workspaces", limit=101)


# --- Rate limits ---------------------------------------------------------------------------------------------------


def test_429_waits_exactly_retry_after_then_retries(asana, sleep):
    asana.get(f"{API}/users/me", status=429, headers={"Retry-After": "7"}, json=error_body("rate limit"))
    asana.get(f"{API}/users/me", json={"data": {"gid": "5"}})

    assert make_client(sleep, remaining_ms=900_000).me() == {"gid": "5"}
    assert sleep.waits == [7.0]
    assert len(asana.calls) == 2


@pytest.mark.parametrize("header", [{}, {"Retry-After": "soon"}, {"Retry-After": "-3"}])
def test_429_without_a_usable_retry_after_waits_30_seconds(asana, sleep, header):
    asana.get(f"{API}/users/me", status=429, headers=header)
    asana.get(f"{API}/users/me", json={"data": {}})

    make_client(sleep).me()

    assert sleep.waits == [30.0]


def test_429_that_cannot_be_waited_out_in_the_remaining_time_fails_at_once(asana, sleep):
    # 10 s wait + 10 s request timeout + 3 s margin do not fit into 20 s.
    asana.get(f"{API}/users/me", status=429, headers={"Retry-After": "10"})

    with pytest.raises(AsanaRateLimited) as caught:
        make_client(sleep, remaining_ms=20_000).me()

    assert caught.value.retry_after == 10
    assert "retry after 10 s" in caught.value.message
    assert caught.value.to_body()["error"]["retry_after"] == 10
    assert sleep.waits == []
    assert len(asana.calls) == 1


def test_429_is_retried_at_most_asana_max_retries_times(asana, sleep):
    for _ in range(3):
        asana.get(f"{API}/users/me", status=429, headers={"Retry-After": "1"})

    with pytest.raises(AsanaRateLimited) as caught:
        make_client(sleep, ASANA_MAX_RETRIES="2").me()

    assert sleep.waits == [1.0, 1.0]
    assert caught.value.retry_after == 1


def test_429_is_retried_for_post_too(asana, sleep):
    asana.post(f"{API}/webhooks", status=429, headers={"Retry-After": "2"})
    asana.post(f"{API}/webhooks", status=201, json={"data": {"gid": "77"}})

    created = make_client(sleep).post("/webhooks", {"resource": "1", "target": "https://hooks.example.com/a"})

    assert created == {"gid": "77"}
    assert sleep.waits == [2.0]
    assert json.loads(asana.calls[1].request.body) == {
        "data": {"resource": "1", "target": "https://hooks.example.com/a"}
    }


def test_rate_limiting_works_when_metrics_cannot_be_recorded(asana, sleep, monkeypatch):
    def broken_add_metric(**_: Any) -> None:
        raise RuntimeError("no namespace configured")

    monkeypatch.setattr(metrics, "add_metric", broken_add_metric)
    asana.get(f"{API}/users/me", status=429, headers={"Retry-After": "1"})
    asana.get(f"{API}/users/me", json={"data": {"gid": "5"}})

    assert make_client(sleep).me() == {"gid": "5"}


# --- Server errors and timeouts ------------------------------------------------------------------------------------


def test_5xx_on_get_is_retried_with_growing_backoff(asana, sleep):
    asana.get(f"{API}/users/me", status=503)
    asana.get(f"{API}/users/me", status=502)
    asana.get(f"{API}/users/me", json={"data": {"gid": "5"}})

    assert make_client(sleep).me() == {"gid": "5"}
    first, second = sleep.waits
    assert 0.5 <= first <= 0.75
    assert 1.0 <= second <= 1.5


def test_5xx_retries_stop_at_asana_max_retries(asana, sleep):
    for _ in range(4):
        asana.get(f"{API}/users/me", status=500, json={"errors": [{"message": "Server Error", "phrase": "6 sad cats"}]})

    with pytest.raises(AsanaUnavailable) as caught:
        make_client(sleep, ASANA_MAX_RETRIES="3").me()

    assert caught.value.code == "asana_server_error"
    assert caught.value.message == (
        "Asana had a problem on its side while reading the connected Asana user: Server Error"
    )
    assert len(sleep.waits) == 3
    assert len(asana.calls) == 4


def test_post_is_not_retried_on_5xx(asana, sleep):
    asana.post(f"{API}/webhooks", status=500)

    with pytest.raises(AsanaUnavailable):
        make_client(sleep).post("/webhooks", {"resource": "1", "target": "https://hooks.example.com/a"})

    assert sleep.waits == []
    assert len(asana.calls) == 1


def test_put_and_delete_are_retried_on_5xx(asana, sleep):
    asana.put(f"{API}/webhooks/77", status=502)
    asana.put(f"{API}/webhooks/77", json={"data": {"gid": "77"}})
    asana.delete(f"{API}/webhooks/77", status=503)
    asana.delete(f"{API}/webhooks/77", json={"data": {}})
    client = make_client(sleep)

    assert client.put("/webhooks/77", {"filters": []}) == {"gid": "77"}
    assert client.delete("/webhooks/77") == {}
    assert len(sleep.waits) == 2


def test_5xx_is_not_retried_when_the_lambda_has_no_time_left(asana, sleep):
    asana.get(f"{API}/users/me", status=503)

    with pytest.raises(AsanaUnavailable):
        make_client(sleep, remaining_ms=5_000).me()

    assert sleep.waits == []


def test_read_timeout_on_get_is_retried(asana, sleep):
    asana.get(f"{API}/users/me", body=requests.exceptions.ReadTimeout("read timed out"))
    asana.get(f"{API}/users/me", json={"data": {"gid": "5"}})

    assert make_client(sleep).me() == {"gid": "5"}
    assert len(sleep.waits) == 1


def test_a_timeout_after_retries_states_the_real_time_waited_not_one_requests_timeout(asana):
    now = [1000.0]

    def wait(seconds: float) -> None:
        now[0] += seconds

    def slow_timeout(_request: Any) -> Any:
        now[0] += 10.0  # each attempt waits out the 10 s timeout
        raise requests.exceptions.ReadTimeout("read timed out")

    for _ in range(3):
        asana.add_callback(responses.GET, f"{API}/users/me", callback=slow_timeout)
    client = AsanaClient(StaticToken(TOKEN), make_config(ASANA_MAX_RETRIES="2"), sleep=wait, monotonic=lambda: now[0])

    with pytest.raises(AsanaUnavailable) as caught:
        client.me()

    waited = now[0] - 1000.0
    assert waited > 30
    assert caught.value.code == "asana_timeout"
    assert f"3 attempts over {waited:.1f} s" in caught.value.message
    assert "10s" not in caught.value.message


def test_read_timeout_on_post_is_not_retried(asana, sleep):
    asana.post(f"{API}/webhooks", body=requests.exceptions.ReadTimeout("read timed out"))

    with pytest.raises(AsanaUnavailable) as caught:
        make_client(sleep).post("/webhooks", {"resource": "1"})

    assert caught.value.code == "asana_timeout"
    assert sleep.waits == []


def test_connection_errors_are_retried_then_the_diagnostic_is_raised(asana, sleep):
    for _ in range(2):
        asana.get(f"{API}/users/me", body=requests.exceptions.ConnectionError("Name or service not known"))

    with pytest.raises(AsanaUnreachable) as caught:
        make_client(sleep, ASANA_MAX_RETRIES="1").me()

    assert caught.value.code == "asana_connection_error"
    assert len(sleep.waits) == 1


def test_every_request_uses_the_configured_timeout(asana, sleep):
    asana.get(f"{API}/users/me", json={"data": {}})

    make_client(sleep, ASANA_TIMEOUT_SECONDS="4.5").me()

    assert asana.calls[0].request.req_kwargs["timeout"] == 4.5


# --- Authentication ------------------------------------------------------------------------------------------------


def test_401_renews_the_token_once_and_retries(asana, sleep):
    source = RenewableToken()
    asana.get(f"{API}/users/me", status=401, json=error_body("The bearer token has expired."))
    asana.get(f"{API}/users/me", json={"data": {"gid": "5"}})

    assert make_client(sleep, token_source=source).me() == {"gid": "5"}
    assert source.rejected == [TOKEN]
    assert auth_header(asana.calls[1].request) == f"Bearer {NEW_TOKEN}"


def test_401_twice_fails_with_the_seeds_message_without_looping(asana, sleep):
    source = RenewableToken()
    asana.get(f"{API}/users/me", status=401)
    asana.get(f"{API}/users/me", status=401)

    with pytest.raises(AsanaAuthenticationFailed) as caught:
        make_client(sleep, token_source=source).me()

    assert caught.value.message == SEED_AUTH_FAILED == "Authentication failed. Your token may have expired."
    assert source.rejected == [TOKEN]
    assert len(asana.calls) == 2


def test_401_with_a_token_that_cannot_be_renewed_fails_at_once(asana, sleep):
    asana.get(f"{API}/users/me", status=401)

    with pytest.raises(AsanaAuthenticationFailed):
        make_client(sleep).me()

    assert len(asana.calls) == 1


# --- Proxy and TLS -------------------------------------------------------------------------------------------------


def test_asana_proxy_is_applied_to_the_session_and_requests(asana, sleep):
    asana.get(f"{API}/users/me", json={"data": {}})
    client = make_client(sleep, ASANA_PROXY="http://proxy.corp.example:8080")

    client.me()

    expected = {"http": "http://proxy.corp.example:8080", "https": "http://proxy.corp.example:8080"}
    assert client.session.proxies == expected
    assert asana.calls[0].request.req_kwargs["proxies"]["https"] == "http://proxy.corp.example:8080"


def test_proxy_error_becomes_a_diagnostic_naming_asana_proxy_and_is_not_retried(asana, sleep):
    asana.get(f"{API}/users/me", body=requests.exceptions.ProxyError("Tunnel connection failed: 407"))

    with pytest.raises(AsanaUnreachable) as caught:
        make_client(sleep, ASANA_PROXY="http://svc:hunter2@proxy.corp.example:8080").me()

    assert caught.value.code == "asana_proxy_error"
    assert "ASANA_PROXY" in caught.value.message
    assert "proxy.corp.example:8080" in caught.value.message
    assert "hunter2" not in caught.value.message
    assert sleep.waits == []


def test_ssl_error_becomes_a_diagnostic_naming_the_ca_bundle_and_is_not_retried(asana, sleep):
    asana.get(
        f"{API}/users/me",
        body=requests.exceptions.SSLError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
    )

    with pytest.raises(AsanaUnreachable) as caught:
        make_client(sleep).me()

    assert caught.value.code == "asana_ssl_error"
    assert "certificate verify failed" in caught.value.message
    assert "ASANA_CA_BUNDLE" in caught.value.message
    assert sleep.waits == []


def test_ca_bundle_is_applied_to_session_verify(asana, sleep):
    asana.get(f"{API}/users/me", json={"data": {}})
    client = make_client(sleep, ASANA_CA_BUNDLE="/opt/certs/corp-ca.pem")

    client.me()

    assert client.session.verify == "/opt/certs/corp-ca.pem"
    assert asana.calls[0].request.req_kwargs["verify"] == "/opt/certs/corp-ca.pem"


# --- Error mapping -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        (400, AsanaRequestRejected, "asana_rejected_request", 400),
        (402, AsanaForbidden, "asana_premium_required", 403),
        (403, AsanaForbidden, "asana_forbidden", 403),
        (404, AsanaNotFound, "asana_not_found", 404),
        (412, AsanaRequestRejected, "asana_precondition_failed", 400),
        (451, AsanaForbidden, "asana_unavailable_for_legal_reasons", 403),
        (409, AsanaRequestRejected, "asana_rejected_request", 400),
    ],
)
def test_statuses_map_to_typed_errors_with_asanas_message(asana, sleep, case):
    status, error_class, code, our_status = case
    asana.get(f"{API}/workspaces/1201/teams", status=status, json=error_body("workspace: Not a recognized ID: 1201"))

    with pytest.raises(error_class) as caught:
        make_client(sleep).teams_page("1201")

    assert caught.value.code == code
    assert caught.value.status == our_status
    assert "workspace: Not a recognized ID: 1201" in caught.value.message
    assert caught.value.fix
    assert sleep.waits == []


def test_403_fix_names_the_granular_scope_the_endpoint_needs(asana, sleep):
    asana.get(f"{API}/workspaces/1201/teams", status=403, json=error_body("Forbidden"))

    with pytest.raises(AsanaForbidden) as caught:
        make_client(sleep).teams_page("1201")

    assert "teams:read" in caught.value.fix


def test_asanas_help_text_is_kept_in_the_message(asana, sleep):
    asana.get(
        f"{API}/projects",
        status=400,
        json=error_body("workspace: Missing input", "For more information on API status codes see https://x"),
    )

    with pytest.raises(AsanaRequestRejected) as caught:
        make_client(sleep).get("/projects")

    assert "workspace: Missing input For more information" in caught.value.message


def test_expired_pagination_offset_has_its_own_code_and_fix(asana, sleep):
    asana.get(f"{API}/projects", status=400, json=error_body("offset: Your pagination token has expired."))

    with pytest.raises(AsanaRequestRejected) as caught:
        make_client(sleep).projects_page("1201", "stale-offset")

    assert caught.value.code == "asana_offset_expired"
    assert caught.value.status == 400
    assert "start the listing again" in caught.value.fix.lower()


def test_a_non_json_success_body_is_reported_not_crashed_on(asana, sleep):
    asana.get(f"{API}/users/me", body="<html>Proxy login</html>", content_type="text/html")

    with pytest.raises(AsanaError) as caught:
        make_client(sleep).me()

    assert caught.value.code == "asana_bad_response"


# --- Secrets -------------------------------------------------------------------------------------------------------


def test_no_token_in_errors_logs_or_repr(asana, sleep, log_output):
    source = RenewableToken()
    asana.get(f"{API}/users/me", status=401, json=error_body(f"Bad token {TOKEN}"))
    asana.get(f"{API}/users/me", status=429, headers={"Retry-After": "1"})
    asana.get(f"{API}/users/me", status=503)
    asana.get(f"{API}/users/me", status=400, json=error_body(f"Invalid token {NEW_TOKEN}"))
    client = make_client(sleep, token_source=source)

    with pytest.raises(AsanaRequestRejected) as caught:
        client.me()

    logged = log_output.getvalue()
    assert "Asana call" in logged  # the debug lines were captured, so the check below means something
    shown = [caught.value.message, caught.value.fix, json.dumps(caught.value.to_body()), repr(client), logged]
    for text in shown:
        assert TOKEN not in text
        assert NEW_TOKEN not in text


def test_authentication_failure_carries_no_token(asana, sleep, log_output):
    asana.get(f"{API}/users/me", status=401, json=error_body(f"Bad token {TOKEN}"))

    with pytest.raises(AsanaAuthenticationFailed) as caught:
        make_client(sleep).me()

    assert TOKEN not in json.dumps(caught.value.to_body())
    assert TOKEN not in log_output.getvalue()


def test_asana_proxy_and_ca_bundle_win_over_the_environments_variables(asana, sleep, monkeypatch):
    # requests lets these variables override session.proxies / session.verify unless they are passed per request.
    monkeypatch.setenv("HTTPS_PROXY", "http://other-proxy.example:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    asana.get(f"{API}/users/me", json={"data": {}})

    make_client(sleep, ASANA_PROXY="http://proxy.corp.example:8080", ASANA_CA_BUNDLE="/opt/certs/corp-ca.pem").me()

    sent = asana.calls[0].request.req_kwargs
    assert sent["proxies"]["https"] == "http://proxy.corp.example:8080"
    assert sent["verify"] == "/opt/certs/corp-ca.pem"
