"""The admin settings page: ``page/index.html`` with its stylesheet, script, panels and bootstrap JSON filled in.

The files are read once per execution environment. Each response gets its own CSP nonce, so the only script and style
that run are the ones inlined here; ``frame-ancestors`` lets SecureDB's UI (the tenant hosts) embed the page and no
one else. The bootstrap JSON carries nothing secret: where the API is, the OAuth outcome to show (rebuilt from its
code, never from free text in the URL), and the local dev sign-in link when there is one.
"""

from __future__ import annotations

import json
import re
import secrets
from functools import cache
from pathlib import Path
from typing import Any

from asana_integration.config import Config
from asana_integration.connections.outcomes import OUTCOME_CODES, CallbackOutcome
from asana_integration.models.connections import Purpose
from asana_integration.tenant_urls import TenantUrls

PAGE_DIR = Path(__file__).resolve().parent / "page"
API_BASE = "/asana/api"
# Parts of the page kept in files of their own: ``page/<name>.js`` and its ``page/<name>.css``. Their styles follow
# the page's; their scripts run before the page's, so they listen before the page announces an admin.
PANELS = ("sync-panel", "webhooks-panel")
_PLACEHOLDER = re.compile(r"\{\{(NONCE|STYLE|SCRIPT|PANEL_SCRIPTS|BOOTSTRAP_JSON)\}\}")


@cache
def _assets() -> dict[str, str]:
    def read(name: str) -> str:
        return (PAGE_DIR / name).read_text(encoding="utf-8")

    return {
        "TEMPLATE": read("index.html"),
        "STYLE": "\n".join([read("settings.css"), *(read(f"{panel}.css") for panel in PANELS)]),
        "SCRIPT": read("settings.js"),
        "PANEL_SCRIPTS": "\n".join(read(f"{panel}.js") for panel in PANELS),
    }


def page_html(nonce: str, bootstrap: dict[str, Any]) -> str:
    """The filled-in page: one pass, so text substituted in (a script, a stylesheet) is never scanned again."""
    assets = _assets()
    values = {**assets, "NONCE": nonce, "BOOTSTRAP_JSON": script_safe_json(bootstrap)}
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], assets["TEMPLATE"])


def outcome_from_query(query: dict[str, str], urls: TenantUrls) -> dict[str, Any] | None:
    """The outcome to show for ``?outcome=<code>[&purpose=…]``; unknown values are ignored, never echoed."""
    code = query.get("outcome", "")
    if code not in OUTCOME_CODES:
        return None
    purpose = Purpose(query["purpose"]) if query.get("purpose") in {p.value for p in Purpose} else None
    return CallbackOutcome.of(code, purpose, urls).to_public()


def render(config: Config, outcome: dict[str, Any] | None) -> tuple[str, dict[str, str]]:
    """The page's HTML and its security headers (the caller sets the text/html content type)."""
    nonce = secrets.token_urlsafe(18)
    bootstrap = {"api_base": API_BASE, "outcome": outcome, "dev_signin_url": config.dev_signin_url}
    html = page_html(nonce, bootstrap)
    headers = {
        "Cache-Control": "no-store",
        "Content-Security-Policy": content_security_policy(nonce, config),
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }
    return html, headers


def content_security_policy(nonce: str, config: Config) -> str:
    scheme = config.public_base_url.scheme
    ancestors = " ".join(["'self'", *(f"{scheme}://{host}" for host in config.allowed_tenant_hosts)])
    return (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; "
        f"img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors {ancestors}"
    )


def script_safe_json(value: Any) -> str:
    """JSON that cannot end its ``<script>`` element early or open a comment in it."""
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
