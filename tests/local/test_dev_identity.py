"""The dev sign-in: tokens as the template's authorizer and functions expect them, and the sign-in page."""

from __future__ import annotations

import time

import jwt
import pytest
from werkzeug.test import Client

from local.dev_identity import DEMO_IDENTITIES, DevIdentityProvider
from tests.local.conftest import AUDIENCE, ISSUER


def _verify(identity: DevIdentityProvider, token: str) -> dict[str, object]:
    key = jwt.PyJWK(identity.jwks["keys"][0])
    claims: dict[str, object] = jwt.decode(token, key.key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER)
    return claims


def test_demo_identities_cover_admin_member_and_a_second_organization() -> None:
    by_key = {i.key: i for i in DEMO_IDENTITIES}
    assert by_key["admin"].admin
    assert not by_key["member"].admin
    assert by_key["admin"].org_id == by_key["member"].org_id != by_key["other-admin"].org_id
    assert by_key["other-admin"].admin


@pytest.mark.parametrize(("key", "roles"), [("admin", ["admin"]), ("member", ["member"]), ("other-admin", ["admin"])])
def test_tokens_carry_the_template_claims(identity: DevIdentityProvider, key: str, roles: list[str]) -> None:
    claims = _verify(identity, identity.token_for(key))
    assert claims["roles"] == roles
    assert {"sub", "org_id", "iss", "aud", "iat", "exp"} <= claims.keys()
    assert 0 < int(str(claims["exp"])) - time.time() <= identity.token_ttl_seconds
    assert jwt.get_unverified_header(identity.token_for(key))["kid"] == identity.kid


def test_unknown_identity_is_a_clear_error(identity: DevIdentityProvider) -> None:
    with pytest.raises(KeyError, match="known: admin, member, other-admin"):
        identity.token_for("root")


def test_sign_in_page_lists_every_identity(identity: DevIdentityProvider) -> None:
    page = Client(identity).get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count('<button type="submit">') == len(DEMO_IDENTITIES)
    assert '<html lang="en">' in html
    for person in DEMO_IDENTITIES:
        assert person.name in html


def test_choosing_an_identity_redirects_with_the_token_in_the_fragment(identity: DevIdentityProvider) -> None:
    response = Client(identity).post("/signin", data={"identity": "member"})
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith("http://127.0.0.1:3000/asana/settings#token=")
    assert _verify(identity, location.split("#token=", 1)[1])["sub"] == "user-blake-chen"
    assert response.headers["Cache-Control"] == "no-store"


def test_signing_in_also_signs_the_browser_in_to_the_sandbox_as_the_same_person(identity: DevIdentityProvider) -> None:
    response = Client(identity).post("/signin", data={"identity": "member"})

    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("asana_sandbox_user=blake.chen@acme-security.example;")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Domain" not in cookie, "host-only: every port of this host, nothing else"


def test_sign_in_with_an_unknown_identity_is_refused(identity: DevIdentityProvider) -> None:
    response = Client(identity).post("/signin", data={"identity": "root"})
    assert response.status_code == 400
    assert 'role="alert"' in response.get_data(as_text=True)


def test_discovery_jwks_and_token_endpoints(identity: DevIdentityProvider) -> None:
    client = Client(identity)
    discovery = client.get("/.well-known/openid-configuration").get_json()
    assert discovery["issuer"] == ISSUER
    assert discovery["jwks_uri"].endswith("/.well-known/jwks.json")
    assert client.get("/.well-known/jwks.json").get_json() == identity.jwks
    assert "d" not in identity.jwks["keys"][0]  # the public half only
    token = client.post("/token", json={"identity": "admin"}).get_json()["access_token"]
    assert _verify(identity, token)["org_id"] == "org-acme"
    assert client.post("/token", data={"identity": "nobody"}).status_code == 400
    assert client.post("/token", json=["admin"]).status_code == 400
    assert client.post("/token", data="{", content_type="application/json").status_code == 400
