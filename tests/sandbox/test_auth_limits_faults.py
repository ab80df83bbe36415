"""Authentication, per-token rate limits, fault switches (Python and HTTP control API) and request counting."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from local.asana_sandbox import AsanaSandbox, demo
from local.asana_sandbox.errors import EXPIRED_BEARER_TOKEN, RATE_LIMITED

from .helpers import connect


def me(sandbox: AsanaSandbox, headers: dict[str, str] | None = None, timeout: float = 5) -> requests.Response:
    return requests.get(f"{sandbox.api_base_url}/users/me", headers=headers or {}, timeout=timeout)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def control(sandbox: AsanaSandbox, name: str, **body: object) -> dict[str, object]:
    response = requests.post(f"{sandbox.base_url}/_sandbox/{name}", json=body, timeout=5)
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


@pytest.mark.parametrize("headers", [{}, bearer("not-a-token"), {"Authorization": demo.DEMO_PAT}])
def test_missing_or_unknown_token_is_401_not_authorized(sandbox, headers):
    response = me(sandbox, headers)

    assert response.status_code == 401
    assert response.json()["errors"][0]["message"] == "Not Authorized"


def test_minted_pat_works_until_revoked(sandbox):
    token = sandbox.issue_pat(demo.ORG_MEMBER_USER_GID)
    assert token.startswith(f"2/{demo.ORG_MEMBER_USER_GID}/")
    assert me(sandbox, bearer(token)).json()["data"]["gid"] == demo.ORG_MEMBER_USER_GID

    assert sandbox.revoke_pat(token) is True
    assert me(sandbox, bearer(token)).status_code == 401


def test_expired_access_token_gets_asanas_expired_message(sandbox):
    sandbox.set_access_token_ttl(0)
    token = connect(sandbox)["access_token"]

    response = me(sandbox, bearer(str(token)))

    assert response.status_code == 401
    assert response.json()["errors"][0]["message"] == EXPIRED_BEARER_TOKEN


def test_access_token_expires_after_an_hour_by_default(sandbox):
    token = str(connect(sandbox)["access_token"])
    sandbox.advance_clock(3599)
    assert me(sandbox, bearer(token)).status_code == 200
    sandbox.advance_clock(2)
    assert me(sandbox, bearer(token)).json()["errors"][0]["message"] == EXPIRED_BEARER_TOKEN


def test_rate_limit_answers_429_with_retry_after_and_counts_rejections(sandbox, pat_headers):
    sandbox.set_rate_limit(3)
    statuses = [me(sandbox, pat_headers).status_code for _ in range(5)]

    limited = me(sandbox, pat_headers)
    assert statuses == [200, 200, 200, 429, 429]
    assert limited.status_code == 429
    assert limited.json()["errors"][0]["message"] == RATE_LIMITED
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # Another token has its own budget.
    other = bearer(sandbox.issue_pat(demo.ORG_MEMBER_USER_GID))
    assert me(sandbox, other).status_code == 200
    # Rejected requests counted: after the window passes the budget is back.
    sandbox.advance_clock(61)
    assert me(sandbox, pat_headers).status_code == 200


def test_injected_5xx_then_recovery_with_phrase_on_500(sandbox, pat_headers):
    sandbox.inject_errors(count=2)

    first, second, third = (me(sandbox, pat_headers) for _ in range(3))

    assert (first.status_code, second.status_code, third.status_code) == (500, 500, 200)
    error = first.json()["errors"][0]
    assert error["phrase"]
    assert error["help"]


def test_injected_errors_respect_path_prefix_and_status(sandbox, pat_headers):
    sandbox.inject_errors(count=1, status=503, path_prefix="/api/1.0/workspaces")

    assert me(sandbox, pat_headers).status_code == 200
    response = requests.get(f"{sandbox.api_base_url}/workspaces", headers=pat_headers, timeout=5)
    assert response.status_code == 503
    assert "phrase" not in response.json()["errors"][0]


def test_forced_429_uses_given_retry_after(sandbox, pat_headers):
    sandbox.force_rate_limit(count=1, retry_after=7)

    limited, ok = me(sandbox, pat_headers), me(sandbox, pat_headers)

    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "7"
    assert limited.json()["errors"][0]["message"] == RATE_LIMITED
    assert ok.status_code == 200


def test_delay_provokes_client_timeout_while_other_requests_are_served(sandbox, pat_headers):
    sandbox.inject_delay(1.0, count=1, path_prefix="/api/1.0/workspaces")
    outcome: dict[str, object] = {}

    def slow() -> None:
        try:
            requests.get(f"{sandbox.api_base_url}/workspaces", headers=pat_headers, timeout=0.3)
        except requests.Timeout as exc:
            outcome["timeout"] = exc

    thread = threading.Thread(target=slow)
    started = time.monotonic()
    thread.start()
    time.sleep(0.05)
    # The threaded server answers this while the delayed request is still sleeping.
    assert me(sandbox, pat_headers).status_code == 200
    assert time.monotonic() - started < 0.9
    thread.join()
    assert "timeout" in outcome


def test_reset_clears_faults_and_counters(sandbox, pat_headers):
    sandbox.inject_errors(count=5)
    sandbox.set_rate_limit(1)
    me(sandbox, pat_headers)

    sandbox.reset()

    assert sandbox.request_count() == 0
    assert me(sandbox, pat_headers).status_code == 200
    assert me(sandbox, pat_headers).status_code == 200


def test_request_counts_by_method_and_path(sandbox, pat_headers):
    me(sandbox, pat_headers)
    me(sandbox, pat_headers)
    requests.get(f"{sandbox.api_base_url}/workspaces?limit=5", headers=pat_headers, timeout=5)

    assert sandbox.request_count("GET", "/api/1.0/users/me") == 2
    assert sandbox.request_count("GET", "/api/1.0/workspaces") == 1
    assert sandbox.request_count("POST") == 0


def test_http_control_api_drives_the_same_switches(sandbox, pat_headers):
    control(sandbox, "faults/errors", count=1, status=502)
    assert me(sandbox, pat_headers).status_code == 502
    control(sandbox, "faults/rate_limit", count=1, retry_after=3)
    assert me(sandbox, pat_headers).headers["Retry-After"] == "3"
    control(sandbox, "faults/delay", seconds=0.5, count=1)
    with pytest.raises(requests.Timeout):
        me(sandbox, pat_headers, timeout=0.2)
    control(sandbox, "settings", requests_per_minute=1)
    assert me(sandbox, pat_headers).status_code == 200
    assert me(sandbox, pat_headers).status_code == 429
    control(sandbox, "reset")

    summary = requests.get(f"{sandbox.base_url}/_sandbox/requests", timeout=5).json()
    assert summary["total"] == 0
    token = control(sandbox, "pats", user_gid=demo.ORG_MEMBER_USER_GID)["token"]
    assert me(sandbox, bearer(str(token))).status_code == 200
    control(sandbox, "pats/revoke", token=token)
    assert me(sandbox, bearer(str(token))).status_code == 401
    summary = requests.get(f"{sandbox.base_url}/_sandbox/requests", timeout=5).json()
    assert summary["by_route"] == {"GET /api/1.0/users/me": 2}


def test_control_api_rejects_bad_input(sandbox):
    response = requests.post(f"{sandbox.base_url}/_sandbox/faults/errors", json={"status": 404}, timeout=5)

    assert response.status_code == 400
    assert response.json()["ok"] is False


def test_two_sandboxes_do_not_share_state(sandbox, pat_headers):
    other = AsanaSandbox().start()
    try:
        sandbox.inject_errors(count=1)
        assert me(other, pat_headers).status_code == 200
        assert other.request_count() == 1
        assert sandbox.request_count() == 0
        assert me(sandbox, pat_headers).status_code == 500  # the fault was waiting in its own sandbox
    finally:
        other.stop()


def test_logs_never_contain_tokens(sandbox, pat_headers, caplog):
    caplog.set_level("DEBUG", logger="local.asana_sandbox")
    connect(sandbox)
    me(sandbox, pat_headers)

    sandbox_log = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("local.asana_sandbox"))
    assert "GET /api/1.0/users/me 200" in sandbox_log
    assert "/-/oauth_authorize 302" in sandbox_log
    assert "?" not in sandbox_log  # no query strings, hence no codes or state
    assert demo.DEMO_PAT not in sandbox_log
    assert demo.DEMO_APP_CLIENT_SECRET not in sandbox_log
