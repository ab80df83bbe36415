"""The API's OpenAPI document and the Swagger UI page that shows it: public, as neither holds anything secret.

``openapi.json`` beside this module describes every function's routes. The functions deploy as separate code
packages, so it is generated from all of them at development time (``make openapi``, ``local/openapi.py``) and a test
keeps it current; this function only serves it.

The page is Powertools' Swagger UI with its bundled script and stylesheet inline (no CDN) and the document embedded.
It is the same for every request, so its Content-Security-Policy allows exactly its own inline script and style by
their SHA-256 hashes: no other script can run on it, and it can only call this API.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from pathlib import Path

from aws_lambda_powertools.event_handler.openapi import swagger_ui
from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html

DOCUMENT_PATH = Path(__file__).with_name("openapi.json")
_SWAGGER_UI_ASSETS = Path(swagger_ui.__file__).parent
_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


@cache
def openapi_document() -> str:
    return DOCUMENT_PATH.read_text(encoding="utf-8")


@cache
def docs_page() -> tuple[str, dict[str, str]]:
    """The Swagger UI page and its security headers (the caller sets the text/html content type)."""
    script = (_SWAGGER_UI_ASSETS / "swagger-ui-bundle.min.js").read_text(encoding="utf-8")
    style = (_SWAGGER_UI_ASSETS / "swagger-ui.min.css").read_text(encoding="utf-8")
    # "</" cannot end the embedding <script> element early once escaped; JSON reads "<\/" as "</".
    spec = openapi_document().replace("</", "<\\/")
    html = generate_swagger_html(spec, script, style, swagger_base_url="", oauth2_config=None)
    headers = {
        "Cache-Control": "public, max-age=300",
        "Content-Security-Policy": content_security_policy(html),
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }
    return html, headers


def content_security_policy(html: str) -> str:
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for element, content in _INLINE.findall(html):
        digest = base64.b64encode(hashlib.sha256(content.encode()).digest()).decode()
        hashes[element].append(f"'sha256-{digest}'")
    return (
        f"default-src 'none'; script-src {' '.join(hashes['script'])}; style-src-elem {' '.join(hashes['style'])}; "
        # Swagger UI positions and hides elements with style attributes.
        "style-src-attr 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
