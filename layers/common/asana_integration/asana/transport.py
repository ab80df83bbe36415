"""The one way this project sends HTTP to Asana: a ``requests`` session with the proxy, CA bundle and timeout applied.

Both the REST client and the OAuth endpoints (token exchange, refresh, revoke) go through ``send``, so ``ASANA_PROXY``
and ``ASANA_CA_BUNDLE`` apply to every outbound call, and a proxy, TLS or connection failure always becomes the same
``AsanaUnreachable`` diagnostic (the seed's "Proxy / SSL / Unsupported SSL request errors").
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from asana_integration.config import Config
from asana_integration.errors import AsanaUnavailable, AsanaUnreachable


def build_session(config: Config) -> requests.Session:
    """A session for Asana, with ``ASANA_PROXY`` and ``ASANA_CA_BUNDLE`` when they are set (``send`` pins them)."""
    session = requests.Session()
    if config.asana_proxy:
        session.proxies = {"http": config.asana_proxy, "https": config.asana_proxy}
    if config.asana_ca_bundle:
        session.verify = config.asana_ca_bundle
    session.headers["Accept"] = "application/json"
    session.headers["User-Agent"] = "securedb-asana-integration"
    return session


def redact_url(url: str) -> str:
    """A URL safe to show: without user-info (proxy credentials), query string or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def send(session: requests.Session, method: str, url: str, *, timeout: float, **kwargs: Any) -> requests.Response:
    """Send one request; connectivity failures become a diagnostic that names ``ASANA_PROXY``.

    The message is built from the host and the failure class only: request bodies and headers (which hold tokens and
    client secrets) never reach it.
    """
    target = redact_url(url)
    proxy = session.proxies.get("https")
    via = f" through the proxy {redact_url(proxy)}" if proxy else " directly (ASANA_PROXY is not set)"
    # requests lets HTTPS_PROXY and REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE from the environment win over session.proxies and
    # session.verify (Session.merge_environment_settings); request-level values win over the environment, so pinning
    # them here makes ASANA_PROXY and ASANA_CA_BUNDLE apply wherever those variables are also set.
    if session.proxies:
        kwargs.setdefault("proxies", dict(session.proxies))
    if session.verify is not True:
        kwargs.setdefault("verify", session.verify)
    try:
        return session.request(method, url, timeout=timeout, **kwargs)
    except requests.exceptions.ProxyError:
        raise AsanaUnreachable(
            f"Could not reach Asana at {target}{via}: the proxy refused or failed the connection. "
            "Check ASANA_PROXY (host, port, credentials) and that the proxy allows HTTPS CONNECT to app.asana.com.",
            code="asana_proxy_error",
        ) from None
    except requests.exceptions.SSLError as exc:
        raise AsanaUnreachable(
            f"TLS with Asana at {target} failed{via} ({_ssl_reason(exc)}). A proxy that inspects TLS needs its CA in "
            "ASANA_CA_BUNDLE; a proxy that does not speak TLS on its port gives 'unsupported SSL request' errors.",
            code="asana_ssl_error",
        ) from None
    except requests.exceptions.ConnectTimeout:
        raise AsanaUnreachable(
            f"Connecting to Asana at {target}{via} timed out after {timeout:g}s. Outbound HTTPS may be blocked: allow "
            "it, or route it through ASANA_PROXY.",
            code="asana_connect_timeout",
        ) from None
    except requests.exceptions.ConnectionError:
        raise AsanaUnreachable(
            f"Could not connect to Asana at {target}{via}. Check DNS and firewall egress, or set ASANA_PROXY if "
            "outbound traffic must go through a proxy.",
            code="asana_connection_error",
        ) from None
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError):
        # The answer was cut off mid-body (a proxy or load balancer dropped it): transient, like a timeout.
        raise AsanaUnavailable(
            f"Asana's answer to {method} {target} was cut off.",
            "Try again in a minute. If it keeps happening, check the proxy between this deployment and Asana.",
            code="asana_timeout",
        ) from None
    except requests.exceptions.Timeout:
        raise AsanaUnavailable(
            f"Asana did not answer {method} {target} within {timeout:g}s.",
            "Try again in a minute. If it keeps happening, check https://status.asana.com and the proxy's latency.",
            code="asana_timeout",
        ) from None


def _ssl_reason(exc: requests.exceptions.SSLError) -> str:
    text = str(exc)
    for marker in ("CERTIFICATE_VERIFY_FAILED", "WRONG_VERSION_NUMBER", "UNSUPPORTED", "HANDSHAKE_FAILURE"):
        if marker in text.upper():
            return marker.lower().replace("_", " ")
    return "TLS handshake failed"
