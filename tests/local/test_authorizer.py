"""The JWT authorizer's checks, and the claims as API Gateway hands them to Lambda."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from local.dev_identity import DevIdentityProvider
from local.gateway import BackgroundServer, JwtAuthorizer, OidcJwks, Unauthorized, authorizer_config
from local.gateway.authorizer import AuthorizerConfig, flatten_claims
from tests.local.conftest import AUDIENCE, ISSUER


@pytest.fixture
def authorizer(identity: DevIdentityProvider) -> JwtAuthorizer:
    keys = {identity.kid: jwt.PyJWK(identity.jwks["keys"][0])}
    return JwtAuthorizer(AuthorizerConfig(ISSUER, (AUDIENCE, "second"), "Authorization"), keys.get)


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_valid_token_yields_its_claims(authorizer: JwtAuthorizer, identity: DevIdentityProvider) -> None:
    claims = authorizer.authorize(_bearer(identity.token_for("admin")))
    assert (claims["sub"], claims["org_id"], claims["roles"]) == ("user-dana-admin", "org-acme", ["admin"])


def test_token_without_bearer_prefix_is_accepted(authorizer: JwtAuthorizer, identity: DevIdentityProvider) -> None:
    # API Gateway strips an optional "Bearer " and also takes the bare token.
    assert authorizer.authorize({"authorization": identity.token_for("member")})["sub"] == "user-blake-chen"


def test_any_configured_audience_is_accepted(authorizer: JwtAuthorizer, identity: DevIdentityProvider) -> None:
    assert authorizer.authorize(_bearer(identity.token_for("admin", aud=["x", "second"])))
    assert authorizer.authorize(_bearer(identity.token_for("admin", aud=None, client_id="second")))


def _other_key_same_kid(identity: DevIdentityProvider) -> str:
    impostor = DevIdentityProvider(issuer=ISSUER, audience=AUDIENCE, signed_in_url="http://x")
    return impostor.sign(identity.claims_for("admin"), headers={"kid": identity.kid})


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (_other_key_same_kid, "signature"),
        (lambda i: i.token_for("admin", iss="https://auth.securedb.io/"), "issuer"),
        (lambda i: i.token_for("admin", aud="someone-else"), "audience"),
        (lambda i: i.token_for("admin", aud=None), "audience"),
        (lambda i: i.token_for("admin", exp=int(time.time()) - 5), "expired"),
        (lambda i: i.token_for("admin", exp=None), "invalid"),
        (lambda i: i.token_for("admin", nbf=int(time.time()) + 600), "not valid yet"),
        (lambda i: i.sign(i.claims_for("admin"), headers={"kid": "unknown"}), "kid"),
        (lambda i: jwt.encode(i.claims_for("admin"), "k" * 32, algorithm="HS256", headers={"kid": i.kid}), "algorithm"),
        (lambda i: "not-a-jwt", "well-formed"),
    ],
)
def test_bad_tokens_are_unauthorized(
    authorizer: JwtAuthorizer, identity: DevIdentityProvider, make_token: Any, reason: str
) -> None:
    with pytest.raises(Unauthorized, match=reason):
        authorizer.authorize(_bearer(make_token(identity)))


def test_missing_token_is_unauthorized(authorizer: JwtAuthorizer) -> None:
    with pytest.raises(Unauthorized, match="no token"):
        authorizer.authorize({})
    with pytest.raises(Unauthorized):
        authorizer.authorize({"authorization": "Bearer "})


def test_config_comes_from_the_template_with_local_issuer() -> None:
    config = authorizer_config({"JwtIssuer": "http://127.0.0.1:3030"})
    assert config == AuthorizerConfig("http://127.0.0.1:3030", ("securedb-asana-integration",), "Authorization")


def test_keys_are_discovered_from_the_issuer_over_http(identity: DevIdentityProvider) -> None:
    server = BackgroundServer("127.0.0.1", 0, "signin")
    try:
        served = DevIdentityProvider(issuer=server.url, audience=AUDIENCE, signed_in_url="http://x")
        server.serve(served)
        keys = OidcJwks(served.issuer)
        authorizer = JwtAuthorizer(AuthorizerConfig(served.issuer, (AUDIENCE,), "Authorization"), keys.key)
        assert authorizer.authorize(_bearer(served.token_for("other-admin")))["org_id"] == "org-globex"
        with pytest.raises(Unauthorized, match="kid"):
            authorizer.authorize(_bearer(identity.token_for("admin", iss=served.issuer)))  # a key it never published
    finally:
        server.stop()


def test_unreachable_issuer_is_unauthorized(identity: DevIdentityProvider) -> None:
    authorizer = JwtAuthorizer(AuthorizerConfig(ISSUER, (AUDIENCE,), "Authorization"), OidcJwks(ISSUER, timeout=1).key)
    with pytest.raises(Unauthorized, match="could not be fetched"):
        authorizer.authorize(_bearer(identity.token_for("admin")))


def test_claims_are_flattened_as_api_gateway_does() -> None:
    flat = flatten_claims(
        {"roles": ["admin", "member"], "exp": 1700000000, "ok": True, "n": 1.5, "sub": "u", "m": {"b": 1, "a": "x"}}
    )
    assert flat == {
        "roles": "[admin member]",
        "exp": "1700000000",
        "ok": "true",
        "n": "1.5",
        "sub": "u",
        "m": "map[a:x b:1]",
    }
