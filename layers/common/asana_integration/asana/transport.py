"""The one way this project sends HTTP to Asana: a ``requests`` session with the proxy, CA bundle and timeout applied.

Both the REST client and the OAuth endpoints (token exchange, refresh, revoke) go through ``send``, so the proxy and
``ASANA_CA_BUNDLE`` apply to every outbound call, and a proxy, TLS or connection failure always becomes the same
``AsanaUnreachable`` diagnostic (the seed's "Proxy / SSL / Unsupported SSL request errors").

**The proxy.** Its URL may carry the proxy's credentials, so a deployment keeps it in a Secrets Manager secret whose
``SecretString`` is the URL, named by ``ASANA_PROXY_SECRET_ARN``. It is read through Powertools' parameters cache
before each request, so a changed URL reaches warm Lambdas (and their long-lived OAuth session) within
``PROXY_CACHE_SECONDS``. ``ASANA_PROXY`` gives the URL directly, for local development only. The URL is only ever shown
through ``redact_url``. With neither set, requests applies the environment's ``HTTPS_PROXY`` (or ``ALL_PROXY``, less
``NO_PROXY``) as usual, and the diagnostics name that variable.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from aws_lambda_powertools.utilities import parameters
from botocore.exceptions import ClientError

from asana_integration.config import Config
from asana_integration.errors import AsanaUnavailable, AsanaUnreachable

# How long a warm Lambda keeps using the proxy URL it read (one Secrets Manager call per period, not per request).
PROXY_CACHE_SECONDS = 300
# requests speaks these to a proxy without extra packages (SOCKS would need PySocks, which the layer does not ship).
PROXY_SCHEMES = frozenset({"http", "https"})


class AsanaSession(requests.Session):
    """A session for Asana that knows its configuration, so ``send`` applies the current proxy to every request."""

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config


def build_session(config: Config) -> requests.Session:
    """A session for Asana, with ``ASANA_CA_BUNDLE`` when it is set; ``send`` pins it and the proxy per request."""
    session = AsanaSession(config)
    if config.asana_ca_bundle:
        session.verify = config.asana_ca_bundle
    session.headers["Accept"] = "application/json"
    session.headers["User-Agent"] = "securedb-asana-integration"
    return session


def proxy_url(config: Config) -> str | None:
    """The outbound proxy's URL: the secret ``ASANA_PROXY_SECRET_ARN`` names (cached), else ``ASANA_PROXY``, else None.

    A secret that cannot be read, or holds no proxy URL, is a diagnostic naming the setting, never the URL.
    """
    if not config.asana_proxy_secret_arn:
        return config.asana_proxy
    try:
        value = parameters.get_secret(config.asana_proxy_secret_arn, max_age=PROXY_CACHE_SECONDS)
    except parameters.exceptions.GetParameterError as error:
        cause = error.__context__
        reason = cause.response.get("Error", {}).get("Code") if isinstance(cause, ClientError) else None
        raise AsanaUnreachable(
            f"The outbound proxy's URL could not be read from Secrets Manager ({reason or 'no answer'}). Check that "
            "ASANA_PROXY_SECRET_ARN names an existing secret that this function's role may read.",
            code="asana_proxy_secret_unreadable",
        ) from None
    url = (value.decode() if isinstance(value, bytes) else str(value)).strip()
    parts = urlsplit(url)
    if parts.scheme not in PROXY_SCHEMES or not parts.hostname:
        raise AsanaUnreachable(
            "The secret ASANA_PROXY_SECRET_ARN names does not hold a proxy URL. Its SecretString must be the URL "
            "alone, e.g. http://user:password@proxy.example.com:8080.",
            code="asana_proxy_secret_invalid",
        )
    return url


def redact_url(url: str) -> str:
    """A URL safe to show: without user-info (proxy credentials), query string or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def send(session: requests.Session, method: str, url: str, *, timeout: float, **kwargs: Any) -> requests.Response:
    """Send one request through the current proxy; connectivity failures become a diagnostic naming the proxy setting.

    The message is built from the host and the failure class only: request bodies and headers (which hold tokens and
    client secrets) never reach it, nor does the path (an admin reads these; the logs name the call).
    """
    target = _origin(url)
    proxy_setting = _apply_current_proxy(session)
    proxy = session.proxies.get("https")
    via = f" through the proxy {redact_url(proxy)}" if proxy else " directly (no proxy is configured)"
    if not proxy and (from_environment := _environment_proxy(session, url)):
        # With no proxy of ours requests takes one from the environment: the message names it, never "directly".
        proxy, proxy_setting = from_environment
        via = f" through the proxy {redact_url(proxy)} (from the environment's {proxy_setting})"
    # requests lets HTTPS_PROXY and REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE from the environment win over session.proxies and
    # session.verify (Session.merge_environment_settings); request-level values win over the environment, so pinning
    # them here makes our proxy and ASANA_CA_BUNDLE apply wherever those variables are also set.
    if session.proxies:
        kwargs.setdefault("proxies", dict(session.proxies))
    if session.verify is not True:
        kwargs.setdefault("verify", session.verify)
    started = time.monotonic()
    try:
        return session.request(method, url, timeout=timeout, **kwargs)
    except requests.exceptions.ProxyError:
        raise AsanaUnreachable(
            f"Could not reach Asana at {target}{via}: the proxy refused or failed the connection. "
            f"Check the proxy URL in {proxy_setting} (host, port, credentials) and that the proxy allows HTTPS "
            "CONNECT to app.asana.com.",
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
            f"Connecting to Asana at {target}{via} timed out after {time.monotonic() - started:.1f} s. Outbound HTTPS "
            f"may be blocked: allow it, or route it through a proxy ({proxy_setting}).",
            code="asana_connect_timeout",
        ) from None
    except requests.exceptions.ConnectionError:
        raise AsanaUnreachable(
            f"Could not connect to Asana at {target}{via}. Check DNS and firewall egress, or configure a proxy "
            f"({proxy_setting}) if outbound traffic must go through one.",
            code="asana_connection_error",
        ) from None
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError):
        # The answer was cut off mid-body (a proxy or load balancer dropped it): transient, like a timeout.
        raise AsanaUnavailable(
            f"Asana's answer from {target} was cut off.",
            "Try again in a minute. If it keeps happening, check the proxy between this deployment and Asana.",
            code="asana_timeout",
        ) from None
    except requests.exceptions.Timeout:
        raise AsanaUnavailable(
            f"Asana at {target} did not answer within {time.monotonic() - started:.1f} s.",
            "Try again in a minute. If it keeps happening, check https://status.asana.com and the proxy's latency.",
            code="asana_timeout",
        ) from None


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL: where a message says Asana was, without the path or anything secret."""
    parts = urlsplit(redact_url(url))
    return f"{parts.scheme}://{parts.netloc}"


def _apply_current_proxy(session: requests.Session) -> str:
    """Give the session the configuration's current proxy; the name of the setting the proxy comes from."""
    if not isinstance(session, AsanaSession):
        return "ASANA_PROXY"  # a session built elsewhere (a test's) keeps the proxies it was given
    current = proxy_url(session.config)
    session.proxies = {"http": current, "https": current} if current else {}
    return "ASANA_PROXY_SECRET_ARN" if session.config.asana_proxy_secret_arn else "ASANA_PROXY"


def _environment_proxy(session: requests.Session, url: str) -> tuple[str, str] | None:
    """The proxy requests itself takes from the environment for ``url`` (``HTTPS_PROXY``, ``ALL_PROXY``, less
    ``NO_PROXY``) when the session has none of ours, and the variable it comes from; None when there is none."""
    if not session.trust_env:
        return None
    found = requests.utils.get_environ_proxies(url)
    for key in (urlsplit(url).scheme, "all"):
        if found.get(key):
            return found[key], f"{key.upper()}_PROXY"
    return None


def _ssl_reason(exc: requests.exceptions.SSLError) -> str:
    text = str(exc)
    for marker in ("CERTIFICATE_VERIFY_FAILED", "WRONG_VERSION_NUMBER", "UNSUPPORTED", "HANDSHAKE_FAILURE"):
        if marker in text.upper():
            return marker.lower().replace("_", " ")
    return "TLS handshake failed"
