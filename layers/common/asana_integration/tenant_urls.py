"""The exact URLs a tenant registers in Asana: redirect URIs (with and without trailing slash) and the webhook URL.

Tenants may have their own subdomain (``acme.expand.securedb.io``), and Asana matches redirect URIs exactly. The
request's host is used only when it is on the allowlist; anything else falls back to ``PUBLIC_BASE_URL``, so a forged
``Host`` header can never point an OAuth redirect somewhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

from asana_integration.config import Config

SETTINGS_PATH = "/asana/settings"
WEBHOOK_PATH = "/asana/webhook"


@dataclass(frozen=True)
class TenantUrls:
    base_url: str

    @property
    def redirect_uri(self) -> str:
        return f"{self.base_url}{SETTINGS_PATH}"

    @property
    def redirect_uri_trailing_slash(self) -> str:
        return f"{self.base_url}{SETTINGS_PATH}/"

    @property
    def redirect_uris(self) -> tuple[str, str]:
        return (self.redirect_uri, self.redirect_uri_trailing_slash)

    @property
    def settings_page_url(self) -> str:
        return self.redirect_uri

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}{WEBHOOK_PATH}"


def tenant_urls(config: Config, request_host: str | None) -> TenantUrls:
    scheme = config.public_base_url.scheme
    host = (request_host or "").strip().lower()
    if host and is_allowed_host(host, config.allowed_tenant_hosts):
        return TenantUrls(base_url=f"{scheme}://{host}")
    return TenantUrls(base_url=str(config.public_base_url).rstrip("/"))


def is_allowed_host(host: str, allowed: tuple[str, ...]) -> bool:
    """Exact match, or ``*.example.com`` matching exactly one extra DNS label (``acme.example.com``)."""
    for pattern in allowed:
        if pattern.startswith("*."):
            suffix = pattern[1:]  # ".example.com"
            label = host[: -len(suffix)] if host.endswith(suffix) else ""
            if label and "." not in label and ":" not in label:
                return True
        elif host == pattern:
            return True
    return False
