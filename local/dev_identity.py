"""Dev sign-in: a local-only identity provider that stands in for SecureDB's, so the JWT authorizer has a real issuer.

It generates an RSA key pair at start (nothing is stored; every run has new keys, and old tokens stop working),
publishes it as a JWKS behind OpenID discovery exactly where API Gateway's JWT authorizer looks for keys, and issues
RS256 tokens for three demo identities: the demo organization's admin and member, and the admin of a second
organization (to show one organization never sees another's data). Claim names and the admin role come from the
template's parameters, so the tokens carry what the deployed authorizer and functions expect.

Endpoints (loopback only):

- ``GET /``: a plain sign-in page listing the identities. Choosing one answers ``303`` to
  ``<gateway>/asana/settings#token=<jwt>``: the token travels in the URL fragment, which browsers never send to a
  server, so it appears in no access log. It also signs the browser in to the local Asana sandbox as the Asana user
  with the same email (the ``asana_sandbox_user`` cookie, read by the sandbox's consent page on the same host), as a
  company whose SecureDB and Asana share a sign-in would have it: whoever clicks Allow approves as themselves.
- ``POST /token`` (form or JSON ``identity=<key>``): ``{"access_token", "token_type", "expires_in"}`` for curl.
- ``GET /.well-known/openid-configuration`` and ``GET /.well-known/jwks.json``.

Tests use the Python API instead: :meth:`DevIdentityProvider.token_for`.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.wrappers import Request, Response

from local.asana_sandbox.consent import SIGNED_IN_COOKIE
from local.template import parameter_defaults

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

_access = logging.getLogger("local.signin.access")

DEFAULT_TOKEN_TTL_SECONDS = 8 * 3600  # a working day of clicking through without signing in again

DEMO_ORG_ID = "org-acme"
DEMO_ORG_NAME = "Acme Security"
OTHER_ORG_ID = "org-globex"
OTHER_ORG_NAME = "Globex Corporation"


@dataclass(frozen=True)
class DemoIdentity:
    key: str  # how tests and the sign-in form name it
    name: str
    email: str
    user_id: str
    org_id: str
    org_name: str
    admin: bool

    @property
    def label(self) -> str:
        return f"{self.name}, {'admin' if self.admin else 'member'} of {self.org_name}"


ADMIN = DemoIdentity(
    "admin", "Dana Admin", "dana.admin@acme-security.example", "user-dana-admin", DEMO_ORG_ID, DEMO_ORG_NAME, admin=True
)
MEMBER = DemoIdentity(
    "member",
    "Blake Chen",
    "blake.chen@acme-security.example",
    "user-blake-chen",
    DEMO_ORG_ID,
    DEMO_ORG_NAME,
    admin=False,
)
OTHER_ADMIN = DemoIdentity(
    "other-admin",
    "Olu Okafor",
    "olu.okafor@globex.example",
    "user-olu-okafor",
    OTHER_ORG_ID,
    OTHER_ORG_NAME,
    admin=True,
)
DEMO_IDENTITIES: tuple[DemoIdentity, ...] = (ADMIN, MEMBER, OTHER_ADMIN)


@dataclass(frozen=True)
class ClaimNames:
    org_id: str
    user_id: str
    roles: str
    admin_role: str

    @classmethod
    def from_template(cls, template: Mapping[str, Any] | None = None) -> ClaimNames:
        params = parameter_defaults(template)
        return cls(params["ClaimOrgId"], params["ClaimUserId"], params["ClaimRoles"], params["AdminRole"])


class DevIdentityProvider:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        signed_in_url: str,
        claim_names: ClaimNames | None = None,
        identities: Iterable[DemoIdentity] = DEMO_IDENTITIES,
        token_ttl_seconds: int = DEFAULT_TOKEN_TTL_SECONDS,
    ) -> None:
        self.issuer = issuer  # exactly as the authorizer is configured: "iss" is compared as a string
        self._base_url = issuer.rstrip("/")
        self.audience = audience
        self.signed_in_url = signed_in_url  # where a browser lands after choosing an identity
        self.claim_names = claim_names or ClaimNames.from_template()
        self.identities = {identity.key: identity for identity in identities}
        self.token_ttl_seconds = token_ttl_seconds
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public_jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        # RFC 7638 thumbprint as the kid: stable for the key, meaningless otherwise.
        canonical = json.dumps({k: public_jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
        self.kid = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).decode().rstrip("=")
        self._jwk = {**public_jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}

    # ------------------------------------------------------------------------------------------------ Python API
    @property
    def jwks(self) -> dict[str, Any]:
        return {"keys": [dict(self._jwk)]}

    @property
    def jwks_url(self) -> str:
        return f"{self._base_url}/.well-known/jwks.json"

    def claims_for(
        self, identity: str | DemoIdentity, *, now: int | None = None, ttl_seconds: int | None = None
    ) -> dict[str, Any]:
        person = identity if isinstance(identity, DemoIdentity) else self._identity(identity)
        issued = int(time.time()) if now is None else now
        names = self.claim_names
        return {
            "iss": self.issuer,
            "aud": self.audience,
            names.user_id: person.user_id,
            names.org_id: person.org_id,
            names.roles: [names.admin_role] if person.admin else ["member"],
            "name": person.name,
            "email": person.email,
            "iat": issued,
            "exp": issued + (self.token_ttl_seconds if ttl_seconds is None else ttl_seconds),
            "jti": str(uuid.uuid4()),
        }

    def token_for(self, identity: str | DemoIdentity, **claim_overrides: Any) -> str:
        """A signed token for a demo identity (``"admin"``, ``"member"``, ``"other-admin"``). Overrides replace or add
        claims (a claim set to ``None`` is removed), for tests of the authorizer's checks."""
        claims = self.claims_for(identity)
        claims.update(claim_overrides)
        return self.sign({k: v for k, v in claims.items() if v is not None})

    def sign(self, claims: Mapping[str, Any], *, headers: Mapping[str, Any] | None = None) -> str:
        return jwt.encode(dict(claims), self._key, algorithm="RS256", headers={"kid": self.kid, **(headers or {})})

    def _identity(self, key: str) -> DemoIdentity:
        try:
            return self.identities[key]
        except KeyError:
            raise KeyError(f"no demo identity {key!r}; known: {', '.join(self.identities)}") from None

    # ------------------------------------------------------------------------------------------------ HTTP
    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        response = self._respond(request)
        response.headers["Cache-Control"] = "no-store"
        _access.info("%s %s %d", request.method, request.path, response.status_code)
        return response(environ, start_response)

    def _respond(self, request: Request) -> Response:
        routes: dict[tuple[str, str], Callable[[Request], Response]] = {
            ("GET", "/"): lambda _: self._page(),
            ("POST", "/signin"): self._sign_in,
            ("POST", "/token"): self._token,
            ("GET", "/.well-known/openid-configuration"): lambda _: _json(self._discovery()),
            ("GET", "/.well-known/jwks.json"): lambda _: _json(self.jwks),
        }
        handler = routes.get((request.method, request.path))
        return handler(request) if handler else _json({"error": "not_found"}, 404)

    def _sign_in(self, request: Request) -> Response:
        identity = self.identities.get(request.form.get("identity", ""))
        if identity is None:
            return self._page(error="Choose one of the listed identities.", status=400)
        # 303: the browser follows with a GET; the fragment is kept by the browser and never sent anywhere.
        response = Response(status=303)
        response.headers["Location"] = f"{self.signed_in_url}#token={self.token_for(identity)}"
        response.headers["Referrer-Policy"] = "no-referrer"
        # Host-only, so every port of this host (the sandbox's too) gets it; an email is no secret.
        response.set_cookie(SIGNED_IN_COOKIE, identity.email, httponly=True, samesite="Lax", path="/")
        return response

    def _token(self, request: Request) -> Response:
        body = request.get_json(silent=True) if request.is_json else request.form
        key = str(body.get("identity", "")) if isinstance(body, Mapping) else ""  # JSON may be any value, or invalid
        if key not in self.identities:
            return _json({"error": "unknown_identity", "identities": list(self.identities)}, 400)
        token = self.token_for(key)
        return _json({"access_token": token, "token_type": "Bearer", "expires_in": self.token_ttl_seconds})

    def _discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": self.jwks_url,
            "authorization_endpoint": f"{self._base_url}/",
            "token_endpoint": f"{self._base_url}/token",
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def _page(self, *, error: str | None = None, status: int = 200) -> Response:
        items = "\n".join(
            f"""      <li>
        <form method="post" action="/signin">
          <input type="hidden" name="identity" value="{html.escape(i.key)}">
          <button type="submit">Sign in as {html.escape(i.name)}</button>
          <span>{"Administrator" if i.admin else "Member"} of {html.escape(i.org_name)}
            (<code>{html.escape(self.claim_names.org_id)}={html.escape(i.org_id)}</code>,
            <code>{html.escape(self.claim_names.user_id)}={html.escape(i.user_id)}</code>)</span>
        </form>
      </li>"""
            for i in self.identities.values()
        )
        alert = f'    <p role="alert">{html.escape(error)}</p>\n' if error else ""
        page = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="referrer" content="no-referrer">
  <title>Dev sign-in · SecureDB Asana integration (local)</title>
  <style>
    body {{ font-family: system-ui, sans-serif; max-width: 44rem; margin: 2rem auto; padding: 0 1rem;
           line-height: 1.5; }}
    ul {{ list-style: none; padding: 0; }}
    li {{ margin: 0 0 1rem; }}
    button {{ font: inherit; padding: .4rem .9rem; margin-right: .6rem; cursor: pointer; }}
    button:focus-visible {{ outline: 3px solid #1a5fb4; outline-offset: 2px; }}
    [role=alert] {{ color: #a51d2d; font-weight: 600; }}
  </style>
</head>
<body>
  <main>
    <h1>Dev sign-in</h1>
    <p>Local mode only. This stands in for SecureDB's identity provider: choose who you are, and you are sent to the
      Asana settings page signed in as that person. Tokens are valid for {self.token_ttl_seconds // 3600} hours and
      for this run only.</p>
{alert}    <ul>
{items}
    </ul>
  </main>
</body>
</html>
"""
        return Response(page, status=status, content_type="text/html; charset=utf-8")


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")
