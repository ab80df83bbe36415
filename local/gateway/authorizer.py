"""The HTTP API JWT authorizer: what API Gateway checks before a protected route's function is ever invoked.

As on AWS (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html): the token comes
from the identity source (``$request.header.Authorization``, an optional ``Bearer`` prefix stripped); its ``kid`` must
name a key in the issuer's JWKS (found through ``{issuer}/.well-known/openid-configuration``); only RSA signatures are
accepted; ``iss`` must equal the configured issuer; ``aud`` (or, without ``aud``, ``client_id``) must be one of the
configured audiences; ``exp`` must be in the future and ``nbf``/``iat`` not. Any failure is a 401 and the function is
not called. The issuer and audiences are read from the template's authorizer, with the template's parameters resolved
to local values, so in local mode the gateway trusts exactly one issuer: the dev sign-in.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from local.template import load_template, resolve_environment

# API Gateway's JWT authorizer supports RSA-based algorithms only.
ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512")
_JWKS_CACHE_SECONDS = 300.0


class Unauthorized(Exception):
    """The token failed a check. ``description`` goes to ``www-authenticate`` as API Gateway's does; it never echoes
    the token."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


@dataclass(frozen=True)
class AuthorizerConfig:
    issuer: str
    audiences: tuple[str, ...]
    header: str  # the identity source's header name, e.g. "Authorization"


def authorizer_config(references: Mapping[str, str], template: Mapping[str, Any] | None = None) -> AuthorizerConfig:
    """The JWT authorizer of the template's HTTP API (its ``DefaultAuthorizer``), parameters resolved."""
    template = template or load_template()
    apis = [r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::HttpApi"]
    if len(apis) != 1:
        raise ValueError(f"the local gateway serves exactly one HTTP API; the template declares {len(apis)}")
    auth = apis[0]["Properties"]["Auth"]
    authorizer = auth["Authorizers"][auth["DefaultAuthorizer"]]
    jwt_config = authorizer["JwtConfiguration"]
    resolved = resolve_environment(
        {"issuer": jwt_config["issuer"], "audience": jwt_config["audience"]}, references, template
    )
    source = str(authorizer.get("IdentitySource", "$request.header.Authorization"))
    prefix = "$request.header."
    if not source.startswith(prefix):
        raise ValueError(f"unsupported identity source {source!r}: the local gateway reads tokens from a header")
    return AuthorizerConfig(
        issuer=resolved["issuer"],
        audiences=tuple(a.strip() for a in resolved["audience"].split(",") if a.strip()),
        header=source.removeprefix(prefix),
    )


class OidcJwks:
    """The issuer's signing keys, discovered and cached as API Gateway does (re-fetched on an unknown ``kid``, at most
    every few seconds, so a rotated key is picked up without a restart)."""

    def __init__(self, issuer: str, *, timeout: float = 5.0) -> None:
        self._issuer = issuer.rstrip("/")
        self._timeout = timeout
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")

    def key(self, kid: str) -> jwt.PyJWK | None:
        with self._lock:
            age = time.monotonic() - self._fetched_at
            if age > _JWKS_CACHE_SECONDS or (kid not in self._keys and age > 5.0):
                self._keys = self._fetch()
                self._fetched_at = time.monotonic()
            return self._keys.get(kid)

    def _fetch(self) -> dict[str, jwt.PyJWK]:
        discovery = self._get_json(f"{self._issuer}/.well-known/openid-configuration")
        jwks = self._get_json(str(discovery["jwks_uri"]))
        return {key.key_id: key for key in jwt.PyJWKSet.from_dict(jwks).keys if key.key_id}

    def _get_json(self, url: str) -> dict[str, Any]:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"refusing to fetch keys from {url!r}")
        with urllib.request.urlopen(url, timeout=self._timeout) as response:  # noqa: S310 - scheme checked above
            loaded: dict[str, Any] = json.loads(response.read())
            return loaded


KeyLookup = Callable[[str], "jwt.PyJWK | None"]


class JwtAuthorizer:
    def __init__(self, config: AuthorizerConfig, keys: KeyLookup) -> None:
        self.config = config
        self._keys = keys

    def authorize(self, headers: Mapping[str, str]) -> dict[str, Any]:
        """The verified claims of the request's token, or :class:`Unauthorized`. ``headers`` are lower-cased."""
        value = headers.get(self.config.header.lower(), "").strip()
        if not value:
            raise Unauthorized("no token in the identity source")
        token = value[7:].strip() if value[:7].lower() == "bearer " else value
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Unauthorized("the token is not a well-formed JWT") from None
        algorithm = header.get("alg")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise Unauthorized("the token's signing algorithm is not accepted (RSA only)")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise Unauthorized("the token has no kid")
        try:
            key = self._keys(kid)
        except Exception as error:  # the issuer unreachable: API Gateway answers 401 too, and logs it
            raise Unauthorized(f"the issuer's keys could not be fetched ({type(error).__name__})") from None
        if key is None:
            raise Unauthorized("the token's kid is not in the issuer's JWKS")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                issuer=self.config.issuer,
                options={"require": ["exp", "iss"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthorized("the token is not valid yet") from None
        except jwt.InvalidIssuerError:
            raise Unauthorized("the token's issuer is not the configured issuer") from None
        except jwt.InvalidSignatureError:
            raise Unauthorized("the token's signature is invalid") from None
        except jwt.InvalidTokenError as error:
            raise Unauthorized(f"the token is invalid ({type(error).__name__})") from None
        self._check_audience(claims)
        return claims

    def _check_audience(self, claims: Mapping[str, Any]) -> None:
        audience = claims.get("aud", claims.get("client_id"))
        presented = {audience} if isinstance(audience, str) else set(audience) if isinstance(audience, list) else set()
        if not presented & set(self.config.audiences):
            raise Unauthorized("the token's audience is not an accepted audience")


def flatten_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """Claims as the authorizer hands them to Lambda: every value a string, arrays as ``"[admin member]"``.

    API Gateway is written in Go and formats non-string claims with Go's ``%v``; functions must parse that form (the
    layer's ``parse_roles`` does), so the local gateway reproduces it rather than passing JSON through.
    """
    return {name: _go_format(value) for name, value in claims.items()}


def _go_format(value: Any) -> str:  # noqa: PLR0911 - one case per JSON type
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, list):
        return "[" + " ".join(_go_format(item) for item in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_format(v)}" for k, v in sorted(value.items())) + "]"
    if value is None:
        return "<nil>"
    return str(value)
