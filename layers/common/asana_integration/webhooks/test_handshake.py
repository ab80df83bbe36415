"""The built-in test handshake (seed Step 7): does the tenant's public webhook URL work the way Asana needs it to?

From the function, over the public URL, as Asana would call it: a one-shot test prefix is armed (kind ``test``, a
short window), then

1. **DNS**: the URL's host name is resolved (``socket.getaddrinfo``), as Asana's servers would resolve it;
2. **TLS**: for an ``https`` URL, a TLS handshake with the host, verifying its certificate against the public CAs
   Asana trusts (certifi's bundle), reporting the protocol and when the certificate expires;
3. **Handshake**: ``POST <webhook URL>/<test prefix>`` with a random ``X-Hook-Secret``, which must come back echoed in
   a 200 or 204 within Asana's 10 seconds, *and* must have been stored by this deployment's webhook function (an echo
   from some other server proves nothing);
4. **Test event**: a delivery signed with that secret (``X-Hook-Signature``), which must be answered 200 or 204.

Each step says what happened in plain language, with the HTTP status, whether the secret was echoed and the latency.
A step that fails skips those after it, and the report ends with the seed's "Webhook unreachable / handshake failure"
cause and fix. The test prefix is deleted at the end, and test events are never queued (``WebhookKind.TEST``), so
nothing reaches the mirror.

The requests go straight out, not through ``ASANA_PROXY``: the proxy is for calls *to* Asana, and Asana does not come
in through it. A deployment whose functions have no direct internet egress cannot test itself this way; the report
says so, and arming a handshake for a webhook made in Asana tests the real path.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import certifi
import requests

from asana_integration.errors import FIX_WEBHOOK_UNREACHABLE, SEED_WEBHOOK_UNREACHABLE
from asana_integration.models.webhooks import WebhookKind
from asana_integration.observability import logger
from asana_integration.stores.webhooks import WebhookStore
from asana_integration.webhooks.api_models import CheckName, CheckStatus, HandshakeTestReport, ProbeCheck

TEST_WINDOW_SECONDS = 30
ASANA_TIMEOUT_SECONDS = 10.0  # Asana's limit for an answer, handshake included
CONNECT_TIMEOUT_SECONDS = 5.0
MIN_STEP_SECONDS = 1.0
MAX_ADDRESSES_SHOWN = 4
OK_STATUSES = frozenset({200, 204})

Resolver = Callable[..., list[tuple[Any, ...]]]


@dataclass(frozen=True, slots=True)
class _Target:
    url: str
    scheme: str
    host: str
    port: int


class HandshakeTester:
    def __init__(
        self,
        store: WebhookStore,
        *,
        clock: Callable[[], float] = time.time,
        resolve: Resolver = socket.getaddrinfo,
        session_factory: Callable[[], requests.Session] = requests.Session,
        ca_bundle: str | None = None,
        proxy_configured: bool = False,
    ) -> None:
        self._store = store
        self._clock = clock
        self._resolve = resolve
        self._session_factory = session_factory
        self._ca_bundle = ca_bundle or certifi.where()
        self._proxy_configured = proxy_configured

    def run(
        self, org_id: str, created_by: str, webhook_url: str, time_left: Callable[[], float] | None = None
    ) -> HandshakeTestReport:
        """Test ``webhook_url`` (the tenant's exact webhook URL); ``time_left``: seconds this test may still take."""
        started = time.perf_counter()
        prefix = self._store.create_pending(
            org_id,
            WebhookKind.TEST,
            resource=None,
            filters=[],
            created_by=created_by,
            deadline=self._clock() + TEST_WINDOW_SECONDS,
        )
        try:
            probe = _Probe(self, _target(f"{webhook_url}/{prefix}"), prefix, time_left or (lambda: 60.0))
            checks = probe.run()
        finally:
            self._store.mark_deleted(prefix)  # one test, one prefix: nothing more is accepted on it
        total_ms = _ms(started)
        return _report(webhook_url, checks, total_ms, probe.notes + self._notes(checks))

    def _notes(self, checks: list[ProbeCheck]) -> list[str]:
        reached = any(c.name in ("tls", "handshake") and c.status == "passed" for c in checks)
        if self._proxy_configured and not reached:
            return [
                "This deployment sends its Asana calls through a proxy. If the functions have no direct internet "
                "egress, they cannot reach their own public URL, and this test fails although Asana might get through: "
                "arm a handshake and create a test webhook in Asana to check the real path."
            ]
        return []

    @property
    def resolve(self) -> Resolver:
        return self._resolve

    @property
    def ca_bundle(self) -> str:
        return self._ca_bundle

    def store_received_handshake(self, prefix: str) -> bool:
        record = self._store.get(prefix)
        return record is not None and record.handshake_at is not None

    def session(self) -> requests.Session:
        session = self._session_factory()
        session.trust_env = False  # no proxy or CA bundle from the environment: straight out, as Asana comes in
        session.headers["User-Agent"] = "securedb-asana-integration (test handshake)"
        return session


class _Probe:
    """One run of the steps against one target."""

    def __init__(self, tester: HandshakeTester, target: _Target, prefix: str, time_left: Callable[[], float]) -> None:
        self._tester = tester
        self._target = target
        self._prefix = prefix
        self._time_left = time_left
        self.notes: list[str] = []

    def run(self) -> list[ProbeCheck]:
        checks: list[ProbeCheck] = []
        secret = secrets.token_hex(32)  # like Asana's: 64 hex characters
        steps: list[tuple[CheckName, Callable[[], ProbeCheck]]] = [
            ("dns", self._dns),
            ("tls", self._tls),
            ("handshake", lambda: self._handshake(secret)),
            ("test_event", lambda: self._event(secret)),
        ]
        failed = False
        for name, step in steps:
            if failed:
                checks.append(_check(name, "skipped", "Not tried: an earlier step failed."))
            elif self._time_left() < MIN_STEP_SECONDS:
                checks.append(_check(name, "skipped", "Not tried: the test ran out of time."))
                failed = True
            else:
                check = step()
                checks.append(check)
                failed = check.status == "failed"
        return checks

    # --- DNS --------------------------------------------------------------------------------------------------------

    def _dns(self) -> ProbeCheck:
        host, port = self._target.host, self._target.port
        literal = _ip(host)
        if literal is not None:
            self._note_private([literal])
            return _check("dns", "passed", f"{host} is an IP address: there is no name to resolve.", latency_ms=0)
        started = time.perf_counter()
        try:
            infos = self._tester.resolve(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as error:
            reason = error.strerror if isinstance(error, socket.gaierror) and error.strerror else "no such name"
            return _check(
                "dns",
                "failed",
                f"{host} does not resolve ({reason}): Asana cannot find the webhook URL's server. Publish a public "
                "DNS record for it.",
                latency_ms=_ms(started),
            )
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        self._note_private([a for a in (_ip(address) for address in addresses) if a is not None])
        shown = ", ".join(addresses[:MAX_ADDRESSES_SHOWN]) + (" …" if len(addresses) > MAX_ADDRESSES_SHOWN else "")
        return _check("dns", "passed", f"{host} resolves to {shown}.", latency_ms=_ms(started))

    def _note_private(self, addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> None:
        if addresses and all(not address.is_global for address in addresses):
            self.notes.append(
                f"{self._target.host} is a private or loopback address. Asana, on the internet, cannot reach it (it "
                "refuses localhost-type targets); this works only with a local Asana stand-in."
            )

    # --- TLS --------------------------------------------------------------------------------------------------------

    def _tls(self) -> ProbeCheck:
        host, port = self._target.host, self._target.port
        if self._target.scheme != "https":
            self.notes.append("The webhook URL is plain http. Asana delivers to public https URLs in production.")
            return _check("tls", "skipped", "Not used: the webhook URL is plain http.")
        context = ssl.create_default_context(cafile=self._tester.ca_bundle)
        started = time.perf_counter()
        try:
            with (
                socket.create_connection((host, port), timeout=self._timeout(CONNECT_TIMEOUT_SECONDS)) as raw,
                context.wrap_socket(raw, server_hostname=host) as tls,
            ):
                version = tls.version() or "TLS"
                certificate = tls.getpeercert() or {}
        except ssl.SSLCertVerificationError as error:
            reason = error.verify_message or error.reason or "not trusted"
            return _check(
                "tls",
                "failed",
                f"The certificate of {host} is not accepted ({reason}). Asana verifies it against the public "
                "certificate authorities: install a certificate for this exact host name from one of them.",
                latency_ms=_ms(started),
            )
        except ssl.SSLError as error:
            return _check(
                "tls",
                "failed",
                f"The TLS handshake with {host}:{port} failed ({error.reason or 'TLS error'}).",
                latency_ms=_ms(started),
            )
        except TimeoutError:
            return _check("tls", "failed", _connect_failure(host, port, "no answer in time"), latency_ms=_ms(started))
        except OSError as error:
            return _check("tls", "failed", _connect_failure(host, port, _os_reason(error)), latency_ms=_ms(started))
        expires = certificate.get("notAfter")
        until = f", valid until {_cert_date(str(expires))}" if expires else ""
        return _check(
            "tls", "passed", f"{version} with {host}; the certificate is trusted{until}.", latency_ms=_ms(started)
        )

    # --- The handshake and a signed event ---------------------------------------------------------------------------

    def _handshake(self, secret: str) -> ProbeCheck:
        sent = self._post({"X-Hook-Secret": secret}, b"")
        if isinstance(sent, ProbeCheck):
            return sent.model_copy(update={"name": "handshake"})
        response, latency = sent
        echoed_value = response.headers.get("X-Hook-Secret", "")
        echoed = hmac.compare_digest(echoed_value.encode("utf-8", "replace"), secret.encode("utf-8"))
        status = response.status_code
        facts = f"HTTP {status} in {latency} ms; the X-Hook-Secret was {'echoed' if echoed else 'not echoed'}"

        def verdict(outcome: CheckStatus, summary: str) -> ProbeCheck:
            return _http_check("handshake", outcome, summary, http_status=status, echoed=echoed, latency_ms=latency)

        if status not in OK_STATUSES:
            return verdict("failed", f"{facts}. Asana needs 200 or 204 with the secret echoed.")
        if not echoed:
            return verdict(
                "failed",
                f"{facts}. Asana needs the same X-Hook-Secret header back; something on the way (a proxy, a CDN or a "
                "firewall) may be removing it.",
            )
        if not self._tester.store_received_handshake(self._prefix):
            return verdict(
                "failed",
                f"{facts}, but this SecureDB deployment never received it: the URL leads to another server. Point "
                "its DNS name at this deployment's API.",
            )
        return verdict("passed", f"{facts}, and SecureDB stored it.")

    def _event(self, secret: str) -> ProbeCheck:
        body = json.dumps({"events": [_test_event()]}, separators=(",", ":")).encode()
        signature = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
        sent = self._post({"Content-Type": "application/json", "X-Hook-Signature": signature}, body)
        if isinstance(sent, ProbeCheck):
            return sent.model_copy(update={"name": "test_event"})
        response, latency = sent
        status = response.status_code
        if status in OK_STATUSES:
            summary = f"A signed test event was accepted: HTTP {status} in {latency} ms."
            return _http_check("test_event", "passed", summary, http_status=status, echoed=None, latency_ms=latency)
        summary = (
            f"A signed test event was refused: HTTP {status} in {latency} ms. Asana counts anything but a 2xx as a "
            "failed delivery and deletes the webhook after 24 hours of them."
        )
        return _http_check("test_event", "failed", summary, http_status=status, echoed=None, latency_ms=latency)

    def _post(self, headers: dict[str, str], body: bytes) -> tuple[requests.Response, int] | ProbeCheck:
        """The response and its latency in ms, or a failed check saying why there was none."""
        host, port = self._target.host, self._target.port
        started = time.perf_counter()
        timeout = (self._timeout(CONNECT_TIMEOUT_SECONDS), self._timeout(ASANA_TIMEOUT_SECONDS))
        try:
            with self._tester.session() as session:
                response = session.post(
                    self._target.url,
                    data=body,
                    headers=headers,
                    timeout=timeout,
                    allow_redirects=False,  # Asana does not follow redirects
                    verify=self._tester.ca_bundle,
                )
                response.close()
        except requests.exceptions.SSLError:
            summary = f"The TLS connection to {host}:{port} failed: the certificate or TLS setup is not accepted."
        except requests.exceptions.ConnectTimeout:
            summary = _connect_failure(host, port, "no answer in time")
        except requests.exceptions.ReadTimeout:
            summary = (
                f"{host} accepted the connection but sent no answer within {timeout[1]:.0f} s; Asana waits at most "
                f"{ASANA_TIMEOUT_SECONDS:.0f} s."
            )
        except requests.exceptions.ConnectionError as error:
            summary = _connect_failure(host, port, _requests_reason(error))
        except requests.exceptions.RequestException:
            summary = f"The request to {host}:{port} failed before an answer came."
        else:
            return response, _ms(started)
        logger.info("test handshake: no answer", extra={"host": host, "port": port})
        return _check("handshake", "failed", summary, latency_ms=_ms(started))

    def _timeout(self, wanted: float) -> float:
        return max(MIN_STEP_SECONDS / 2, min(wanted, self._time_left() - MIN_STEP_SECONDS / 2))


# --- The report -------------------------------------------------------------------------------------------------------


def _report(webhook_url: str, checks: list[ProbeCheck], total_ms: int, notes: list[str]) -> HandshakeTestReport:
    failed = next((check for check in checks if check.status == "failed"), None)
    if failed is None:
        return HandshakeTestReport(
            ok=True,
            verdict=f"The webhook URL works: {webhook_url} answered a handshake and a signed test event as Asana "
            "needs, and this SecureDB deployment received them.",
            webhook_url=webhook_url,
            checks=checks,
            total_ms=total_ms,
            notes=notes,
        )
    step = {"dns": "DNS", "tls": "TLS", "handshake": "the handshake", "test_event": "the test event"}[failed.name]
    return HandshakeTestReport(
        ok=False,
        verdict=f"The webhook URL does not work: {step} failed. {failed.summary}",
        webhook_url=webhook_url,
        checks=checks,
        total_ms=total_ms,
        notes=notes,
        message=SEED_WEBHOOK_UNREACHABLE,
        fix=FIX_WEBHOOK_UNREACHABLE.format(webhook_url=webhook_url),
    )


def _check(name: CheckName, status: CheckStatus, summary: str, *, latency_ms: int | None = None) -> ProbeCheck:
    return ProbeCheck(name=name, status=status, summary=summary, latency_ms=latency_ms)


def _http_check(
    name: CheckName, status: CheckStatus, summary: str, *, http_status: int, echoed: bool | None, latency_ms: int
) -> ProbeCheck:
    return ProbeCheck(
        name=name,
        status=status,
        summary=summary,
        latency_ms=latency_ms,
        http_status=http_status,
        secret_echoed=echoed,
    )


def _test_event() -> dict[str, Any]:
    """A compact event shaped like Asana's, naming no real resource (a test webhook's events are never applied)."""
    return {
        "user": None,
        "created_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "action": "changed",
        "resource": {"gid": "0", "resource_type": "task"},
        "parent": None,
        "change": {"field": "name", "action": "changed"},
    }


# --- Small helpers ----------------------------------------------------------------------------------------------------


def _target(url: str) -> _Target:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    port = parts.port or (443 if scheme == "https" else 80)
    return _Target(url=url, scheme=scheme, host=host, port=port)


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _connect_failure(host: str, port: int, reason: str) -> str:
    return (
        f"Could not connect to {host}:{port} ({reason}). A firewall, a security group or a load balancer may be "
        "refusing public traffic to the webhook URL."
    )


def _os_reason(error: OSError) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    return error.strerror or type(error).__name__


def _requests_reason(error: requests.exceptions.ConnectionError) -> str:
    """A short reason from the exception chain, never its text (which may quote the URL)."""
    cause: BaseException | None = error
    for _ in range(10):  # exception chains are short; a cyclic one must not hang the test
        if cause is None:
            break
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return "the name does not resolve"
        if isinstance(cause, TimeoutError):
            return "no answer in time"
        cause = cause.__cause__ or cause.__context__ or _reason_of(cause)
    text = str(error).lower()
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "nodename nor servname" in text or "resolution" in text:
        return "the name does not resolve"
    return "the connection failed"


def _reason_of(error: BaseException) -> BaseException | None:
    reason = getattr(error, "reason", None)
    if isinstance(reason, BaseException) and reason is not error:
        return reason
    args = getattr(error, "args", ())
    return next((arg for arg in args if isinstance(arg, BaseException) and arg is not error), None)


def _cert_date(value: str) -> str:
    try:
        return datetime.fromtimestamp(ssl.cert_time_to_seconds(value), UTC).date().isoformat()
    except ValueError:
        return value
