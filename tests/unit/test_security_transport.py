"""Every way a call to Asana can fail before an answer arrives becomes one diagnostic that names the target host and
how it was reached (directly, or through which proxy, credentials redacted), never the request's secrets."""

from __future__ import annotations

import re

import pytest
import requests
import responses

from asana_integration.asana.transport import build_session, redact_url, send
from asana_integration.config import Config
from asana_integration.errors import AsanaUnavailable, AsanaUnreachable

TARGET = "https://app.asana.com/-/oauth_token"
HOST = "https://app.asana.com"
# The query and fragment can carry codes and tokens: the diagnostic names where Asana was, never them.
SENT_TO = f"{TARGET}?code=secret-code-123#frag"
PROXY = "http://svc-asana:proxy-pass-9@proxy.corp.example:3128"


def config(**environment: str) -> Config:
    return Config.model_validate(
        {"TABLE_NAME": "table", "KMS_KEY_ID": "key", "PUBLIC_BASE_URL": "https://expand.securedb.io", **environment}
    )


def fail_with(error: Exception, *, proxy: str | None = None) -> AsanaUnreachable | AsanaUnavailable:
    session = build_session(config(ASANA_PROXY=proxy) if proxy else config())
    with responses.RequestsMock() as asana:
        asana.post(TARGET, body=error)
        with pytest.raises((AsanaUnreachable, AsanaUnavailable)) as failed:
            send(session, "POST", SENT_TO, timeout=7.5, data={"client_secret": "client-secret-xyz"})
    return failed.value


def seconds_in(message: str, pattern: str) -> float:
    found = re.search(pattern, message)
    assert found, message
    return float(found.group(1))


def assert_names_the_target_only(error: AsanaUnreachable | AsanaUnavailable) -> None:
    text = f"{error.message} {error.fix}"
    assert HOST in error.message
    for secret in ("secret-code-123", "frag", "client-secret-xyz", "proxy-pass-9", "svc-asana"):
        assert secret not in text


def test_a_connect_timeout_is_unreachable_and_says_how_it_went():
    error = fail_with(requests.exceptions.ConnectTimeout("connect timed out"))

    assert isinstance(error, AsanaUnreachable)
    assert (error.status, error.code) == (502, "asana_connect_timeout")
    assert "timed out" in error.message
    assert "directly (no proxy is configured)" in error.message
    assert 0 <= seconds_in(error.message, r"timed out after (\d+\.\d) s") < 5, "the time really waited"
    assert_names_the_target_only(error)


def test_a_connect_timeout_through_a_proxy_names_the_proxy_without_its_credentials():
    error = fail_with(requests.exceptions.ConnectTimeout("connect timed out"), proxy=PROXY)

    assert error.code == "asana_connect_timeout"
    assert "proxy.corp.example:3128" in error.message
    assert "route it through a proxy (ASANA_PROXY)" in error.message  # the setting the proxy came from
    assert_names_the_target_only(error)


@pytest.mark.parametrize(
    "cut_off",
    [
        requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead"),
        requests.exceptions.ContentDecodingError("Received response with content-encoding: gzip, but failed"),
    ],
    ids=["chunked", "decoding"],
)
def test_an_answer_cut_off_mid_body_is_a_transient_unavailability(cut_off):
    error = fail_with(cut_off)

    assert isinstance(error, AsanaUnavailable)
    assert (error.status, error.code) == (503, "asana_timeout")
    assert "cut off" in error.message
    assert "Try again in a minute" in error.fix
    assert_names_the_target_only(error)


def test_a_read_timeout_is_a_transient_unavailability():
    error = fail_with(requests.exceptions.ReadTimeout("read timed out"))

    assert isinstance(error, AsanaUnavailable)
    assert (error.status, error.code) == (503, "asana_timeout")
    assert 0 <= seconds_in(error.message, r"did not answer within (\d+\.\d) s") < 5, "the time really waited"
    assert "Try again in a minute" in error.fix
    assert "status.asana.com" in error.fix
    assert_names_the_target_only(error)


def test_a_refused_connection_is_unreachable_and_names_the_host():
    error = fail_with(requests.exceptions.ConnectionError("Connection refused"))

    assert isinstance(error, AsanaUnreachable)
    assert (error.status, error.code) == (502, "asana_connection_error")
    assert "directly (no proxy is configured)" in error.message
    assert_names_the_target_only(error)


def test_a_proxy_failure_names_the_proxy_host_and_the_setting():
    error = fail_with(requests.exceptions.ProxyError("Tunnel connection failed: 407"), proxy=PROXY)

    assert error.code == "asana_proxy_error"
    assert "proxy.corp.example:3128" in error.message
    assert "Check the proxy URL in ASANA_PROXY (host" in error.message  # the setting the proxy came from
    assert_names_the_target_only(error)


@pytest.mark.parametrize(
    ("ssl_text", "reason"),
    [
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", "certificate verify failed"),
        ("[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1000)", "wrong version number"),
        ("[SSL: UNSUPPORTED_PROTOCOL] unsupported protocol", "unsupported"),
        ("[SSL: SSLV3_ALERT_HANDSHAKE_FAILURE] sslv3 alert handshake failure", "handshake failure"),
        ("EOF occurred in violation of protocol", "TLS handshake failed"),
    ],
    ids=["untrusted certificate", "plain HTTP on a TLS port", "unsupported", "handshake", "other"],
)
def test_a_tls_failure_says_which_and_points_at_the_ca_bundle(ssl_text, reason):
    error = fail_with(requests.exceptions.SSLError(ssl_text), proxy=PROXY)

    assert error.code == "asana_ssl_error"
    assert f"({reason})" in error.message
    assert "ASANA_CA_BUNDLE" in error.message
    assert "'unsupported SSL request'" in error.message  # the error a proxy that does not speak TLS gives
    assert "proxy.corp.example:3128" in error.message
    assert_names_the_target_only(error)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:pass@proxy.example:8080/path?q=1#f", "http://proxy.example:8080/path"),
        ("https://app.asana.com/api/1.0/users/me?opt_fields=email", "https://app.asana.com/api/1.0/users/me"),
        ("http://proxy.example", "http://proxy.example"),
    ],
)
def test_a_shown_url_keeps_no_credentials_query_or_fragment(url, shown):
    assert redact_url(url) == shown


def test_a_successful_call_is_returned_untouched():
    session = build_session(config(ASANA_CA_BUNDLE="/opt/certs/corp-ca.pem"))
    with responses.RequestsMock() as asana:
        asana.get("https://app.asana.com/api/1.0/users/me", json={"data": {"gid": "1"}})
        response = send(session, "GET", "https://app.asana.com/api/1.0/users/me", timeout=3)
        sent = asana.calls[0].request

    assert response.json() == {"data": {"gid": "1"}}
    assert sent.req_kwargs["timeout"] == 3
    assert sent.req_kwargs["verify"] == "/opt/certs/corp-ca.pem"
    assert sent.headers["Accept"] == "application/json"
    assert sent.headers["User-Agent"] == "securedb-asana-integration"


def test_a_session_built_elsewhere_keeps_its_proxy_and_the_message_names_asana_proxy():
    session = requests.Session()  # not one build_session made: no configuration to read a proxy from
    session.proxies = {"https": PROXY}
    with responses.RequestsMock() as asana:
        asana.post(TARGET, body=requests.exceptions.ConnectionError("Connection refused"))
        with pytest.raises(AsanaUnreachable) as failed:
            send(session, "POST", SENT_TO, timeout=7.5)

    assert "(ASANA_PROXY)" in failed.value.message
    assert "proxy.corp.example:3128" in failed.value.message
    assert session.proxies == {"https": PROXY}
