"""The wire side of the sandbox's webhooks: which targets are allowed, the handshake, signed compact deliveries.

As Asana documents them (fact sheet §2):

- the handshake is a POST to the target with `X-Hook-Secret: <64 lowercase hex>`; the target must answer 200 or 204
  and echo the same header;
- a delivery is a POST of `{"events": [...]}` with `X-Hook-Signature` = lowercase hex HMAC-SHA256 of the exact body
  bytes, keyed with the secret; `{"events": []}` is a heartbeat;
- an event in a webhook body is compact: `user`, `resource`, `parent` and the change's `new_value` / `added_value` /
  `removed_value` carry only `gid` and `resource_type`;
- "invalid hostnames like localhost" are refused with 403.

Sandbox guesses, where Asana's docs are silent:

- the handshake request has an empty body and is held to the delivery limit, 10 s; a timeout, a refused connection,
  any status but 200/204 or a missing or different `X-Hook-Secret` all fail the create with 400 `HANDSHAKE_FAILED`
  (wording remembered from Asana's community forum, not found in its docs);
- a delivery succeeds on any 2xx within `timeout_seconds` (Asana: "a successful HTTP status code within 10 seconds");
  redirects are not followed;
- `last_failure_content` is `"<status> <reason>\\n\\n<the first 1,000 characters of the body>"`, the shape of the
  spec's example (`"500 Server Error\\n\\nCould not complete the request"`), or a sentence for a timeout or a
  connection error;
- the refused hostnames are `localhost`, `*.localhost` and IP literals that are loopback, private, link-local,
  unspecified, multicast or reserved; names are not resolved. The check is skipped while `allow_loopback_targets` is
  on (the default: local mode's receiver listens on 127.0.0.1). `http` targets are accepted: whether Asana requires
  https is unconfirmed;
- compact events keep a task's `resource_subtype` and drop names and the deprecated `type`;
- proxies from the environment are ignored: targets are reached directly, as Asana reaches the internet.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import requests

from local.asana_sandbox.errors import AsanaError
from local.asana_sandbox.events import Event, Ref
from local.asana_sandbox.timestamps import iso

DEFAULT_TIMEOUT_SECONDS = 10.0
FAILURE_CONTENT_LIMIT = 1000

# Observed (Asana's answer to a second webhook on the same resource and target: n8n issue #133, node-asana #156).
DUPLICATED_WEBHOOK = (
    "Duplicated webhook. You already have an existing webhook for the given resource and target. "
    "Delete the old one before creating another."
)
# Remembered from Asana's forum, not found in its docs.
HANDSHAKE_FAILED = (
    "Could not complete activation handshake with target URL. Please ensure that the receiving server is accepting "
    "connections and supports SSL"
)
# Sandbox guesses.
LOCAL_TARGET = "target: Invalid hostname. Webhook targets must be reachable from the internet, not e.g. localhost."
INVALID_TARGET = "target: Not a valid URL. Use an absolute http or https URL."


def new_secret() -> str:
    """A secret shaped like the spec's example: 64 lowercase hex characters (256 bits)."""
    return secrets.token_hex(32)


def signature(secret: str, body: bytes) -> str:
    """`X-Hook-Signature`: lowercase hex HMAC-SHA256 of the exact body bytes, keyed with the secret."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_target(target: str, *, allow_loopback: bool) -> None:
    """Raise Asana's answer for a target it would refuse: 400 for a malformed URL, 403 for a local host."""
    try:
        parts = urlsplit(target)
        host = parts.hostname
    except ValueError as exc:
        raise AsanaError(400, INVALID_TARGET) from exc
    if parts.scheme not in ("http", "https") or not host:
        raise AsanaError(400, INVALID_TARGET)
    if not allow_loopback and _is_local(host):
        raise AsanaError(403, LOCAL_TARGET)


def _is_local(host: str) -> bool:
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False  # a name: not resolved (see the module docstring)
    return any(
        (
            address.is_loopback,
            address.is_private,
            address.is_link_local,
            address.is_unspecified,
            address.is_multicast,
            address.is_reserved,
        )
    )


# --- Compact events -----------------------------------------------------------------------------------------------


def _compact_ref(ref: Ref | None, *, subtype: bool = False) -> dict[str, Any] | None:
    if ref is None:
        return None
    out: dict[str, Any] = {"gid": ref.gid, "resource_type": ref.resource_type}
    if subtype and ref.resource_subtype is not None:
        out["resource_subtype"] = ref.resource_subtype
    return out


def compact_event(event: Event) -> dict[str, Any]:
    """An event as a webhook body carries it (EventResponse, compact; `change` only on `changed` events)."""
    out: dict[str, Any] = {
        "user": _compact_ref(event.user),
        "created_at": iso(event.created_at),
        "action": event.action,
        "resource": _compact_ref(event.resource, subtype=True),
        "parent": _compact_ref(event.parent),
    }
    if event.change is not None:
        change: dict[str, Any] = {"field": event.change.field, "action": event.change.action}
        if event.change.value is not None:
            key = {"changed": "new_value", "added": "added_value", "removed": "removed_value"}[event.change.action]
            change[key] = _compact_ref(event.change.value)
        out["change"] = change
    return out


def delivery_body(events: list[Event]) -> bytes:
    """The exact bytes a delivery sends (and signs): compact JSON, `{"events": []}` for a heartbeat."""
    return json.dumps({"events": [compact_event(e) for e in events]}, separators=(",", ":")).encode()


# --- HTTP -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one request to a target came to."""

    ok: bool
    status: int | None
    # last_failure_content for a failure; empty on success.
    detail: str
    seconds: float = 0.0


def failure_content(status: int, body: str) -> str:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown Status"
    return f"{status} {reason}\n\n{body[:FAILURE_CONTENT_LIMIT]}"


def timeout_content(timeout_seconds: float) -> str:
    return f"Timed out: the target did not answer within {timeout_seconds:g} seconds."


def _post(target: str, headers: dict[str, str], body: bytes, timeout_seconds: float) -> requests.Response:
    with requests.Session() as session:
        session.trust_env = False  # no proxy from the environment: Asana reaches targets directly
        return session.post(
            target, data=body, headers=headers, timeout=timeout_seconds, allow_redirects=False, stream=False
        )


def _send(target: str, headers: dict[str, str], body: bytes, timeout_seconds: float) -> Outcome | _Answered:
    """The target's answer, or the failure that prevented one."""
    started = time.monotonic()
    try:
        response = _post(target, headers, body, timeout_seconds)
    except requests.Timeout:
        return Outcome(False, None, timeout_content(timeout_seconds), time.monotonic() - started)
    except requests.RequestException as exc:
        detail = f"Could not reach the target: {type(exc).__name__}."
        return Outcome(False, None, detail, time.monotonic() - started)
    elapsed = time.monotonic() - started
    if elapsed > timeout_seconds:
        # A target that trickles its answer past the limit fails like one that never answers.
        return Outcome(False, response.status_code, timeout_content(timeout_seconds), elapsed)
    return _Answered(response, elapsed)


@dataclass(frozen=True)
class _Answered:
    response: requests.Response
    seconds: float

    def failure(self) -> Outcome:
        status = self.response.status_code
        return Outcome(False, status, failure_content(status, self.response.text), self.seconds)


def handshake(target: str, secret: str, timeout_seconds: float) -> Outcome:
    """POST the handshake; success needs 200 or 204 and the same `X-Hook-Secret` echoed."""
    sent = _send(target, {"X-Hook-Secret": secret}, b"", timeout_seconds)
    if isinstance(sent, Outcome):
        return sent
    if sent.response.status_code not in (200, 204):
        return sent.failure()
    echoed = sent.response.headers.get("X-Hook-Secret", "")
    if not hmac.compare_digest(echoed.encode(), secret.encode()):
        detail = "The target answered without echoing the X-Hook-Secret header it was sent."
        return Outcome(False, sent.response.status_code, detail, sent.seconds)
    return Outcome(True, sent.response.status_code, "", sent.seconds)


def deliver(target: str, secret: str, body: bytes, timeout_seconds: float) -> Outcome:
    """POST one signed delivery; any 2xx within the limit is a success."""
    headers = {"Content-Type": "application/json", "X-Hook-Signature": signature(secret, body)}
    sent = _send(target, headers, body, timeout_seconds)
    if isinstance(sent, Outcome):
        return sent
    if not 200 <= sent.response.status_code < 300:
        return sent.failure()
    return Outcome(True, sent.response.status_code, "", sent.seconds)
