"""OAuth and HTTP helpers shared by the sandbox tests: they drive the sandbox the way a browser and a client would."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import requests

from local.asana_sandbox import AsanaSandbox, demo


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def authorize_params(
    client_id: str = demo.DEMO_APP_CLIENT_ID,
    redirect_uri: str = demo.DEMO_REDIRECT_URI,
    scope: str | None = None,
    challenge: str | None = None,
    state: str = "csrf-state-123",
) -> dict[str, str]:
    params = {"client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code", "state": state}
    if scope is not None:
        params["scope"] = scope
    if challenge is not None:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return params


@dataclass
class Grant:
    code: str
    verifier: str


def obtain_code(
    sandbox: AsanaSandbox,
    *,
    client_id: str = demo.DEMO_APP_CLIENT_ID,
    redirect_uri: str = demo.DEMO_REDIRECT_URI,
    scope: str | None = None,
    user_gid: str = demo.DEMO_ADMIN_USER_GID,
) -> Grant:
    """Walk the consent page as a browser would (GET the page, POST Approve) and return the code."""
    verifier, challenge = pkce_pair()
    params = authorize_params(client_id, redirect_uri, scope, challenge)
    page = requests.get(f"{sandbox.oauth_base_url}/oauth_authorize", params=params, timeout=5)
    assert page.status_code == 200, page.text
    answer = requests.post(
        f"{sandbox.oauth_base_url}/oauth_authorize",
        data={**params, "user_gid": user_gid, "decision": "approve"},
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code == 302, answer.text
    query = query_of(answer.headers["Location"])
    assert query["state"] == params["state"]
    return Grant(query["code"], verifier)


def exchange(
    sandbox: AsanaSandbox,
    grant: Grant,
    *,
    client_id: str = demo.DEMO_APP_CLIENT_ID,
    client_secret: str = demo.DEMO_APP_CLIENT_SECRET,
    redirect_uri: str = demo.DEMO_REDIRECT_URI,
) -> requests.Response:
    return requests.post(
        f"{sandbox.oauth_base_url}/oauth_token",
        data={
            "grant_type": "authorization_code",
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": redirect_uri,
            "code": grant.code,
            "code_verifier": grant.verifier,
        },
        timeout=5,
    )


def refresh(
    sandbox: AsanaSandbox,
    refresh_token: str,
    *,
    client_id: str = demo.DEMO_APP_CLIENT_ID,
    client_secret: str = demo.DEMO_APP_CLIENT_SECRET,
) -> requests.Response:
    return requests.post(
        f"{sandbox.oauth_base_url}/oauth_token",
        data={
            "grant_type": "refresh_token",
            "client_id": client_id,
            "client_secret": client_secret,
            "refresh_token": refresh_token,
        },
        timeout=5,
    )


def connect(sandbox: AsanaSandbox, **kwargs: str) -> dict[str, object]:
    """Full happy path: consent, code exchange; returns the token response body."""
    response = exchange(sandbox, obtain_code(sandbox, **kwargs))
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body
