"""A request's host chooses the tenant's URLs (the OAuth redirect_uri among them) only when it is on the allowlist:
anything else falls back to PUBLIC_BASE_URL, so a forged Host header can never point Asana's redirect elsewhere."""

from __future__ import annotations

import pytest

from asana_integration.config import Config
from asana_integration.tenant_urls import TenantUrls, tenant_urls

FALLBACK = "https://expand.securedb.io"


def config(public_base_url: str = FALLBACK, allowed: str = "securedb.example.org, *.expand.securedb.io") -> Config:
    environment = {"PUBLIC_BASE_URL": public_base_url, "ALLOWED_TENANT_HOSTS": allowed}
    return Config.model_validate({"TABLE_NAME": "table", "KMS_KEY_ID": "key", **environment})


# An exact host that is not the fallback's, so accepting it is visible.
CONFIG = config()


def test_a_subdomain_under_the_wildcard_gets_its_own_exact_urls():
    urls = tenant_urls(CONFIG, "acme.expand.securedb.io")

    assert urls == TenantUrls(base_url="https://acme.expand.securedb.io")
    assert urls.redirect_uris == (
        "https://acme.expand.securedb.io/asana/settings",
        "https://acme.expand.securedb.io/asana/settings/",
    )
    assert urls.settings_page_url == "https://acme.expand.securedb.io/asana/settings"
    assert urls.webhook_url == "https://acme.expand.securedb.io/asana/webhook"


def test_an_exactly_allowlisted_host_is_accepted():
    assert tenant_urls(CONFIG, "securedb.example.org").base_url == "https://securedb.example.org"


def test_the_host_is_compared_without_case_or_surrounding_blanks():
    assert tenant_urls(CONFIG, "  ACME.Expand.SecureDB.io ").base_url == "https://acme.expand.securedb.io"
    assert tenant_urls(CONFIG, "SecureDB.Example.org").base_url == "https://securedb.example.org"


def test_the_fallbacks_scheme_is_kept():
    http = config(public_base_url="http://expand.securedb.io/")
    assert tenant_urls(http, "acme.expand.securedb.io").base_url == "http://acme.expand.securedb.io"
    assert tenant_urls(http, "evil.com").base_url == "http://expand.securedb.io"


@pytest.mark.parametrize(
    "host",
    [
        "attacker-controlled-host.io",  # not under *.expand.securedb.io at all
        "evil.com",
        "expand.securedb.io.evil.com",
        "acmeexpand.securedb.io",  # the suffix without its dot
        "a.b.expand.securedb.io",  # the wildcard covers exactly one extra label
        ".expand.securedb.io",  # an empty label
        "evil:443.expand.securedb.io",  # a port smuggled into the label
        "expand.securedb.io",  # the wildcard's own parent is not covered by it (and not listed here)
        "securedb.example.org.evil.com",
        "x.securedb.example.org",  # an exact entry is no wildcard
        "",
        "   ",
        None,
    ],
    ids=ascii,
)
def test_a_foreign_host_falls_back_to_the_public_base_url(host):
    urls = tenant_urls(CONFIG, host)

    assert urls.base_url == FALLBACK
    assert urls.redirect_uri == f"{FALLBACK}/asana/settings"


def test_a_fallback_with_a_path_prefix_keeps_it_exactly():
    prefixed = config(public_base_url="https://securedb.example.org/tenant-X/")
    assert tenant_urls(prefixed, "evil.com").redirect_uri == "https://securedb.example.org/tenant-X/asana/settings"


def test_with_no_allowlist_every_host_falls_back():
    closed = config(allowed="")
    assert tenant_urls(closed, "acme.expand.securedb.io").base_url == FALLBACK
