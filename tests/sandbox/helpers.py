"""OAuth and HTTP helpers shared by the sandbox tests: they drive the sandbox the way a browser and a client would."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
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


def token_for(
    sandbox: AsanaSandbox,
    *,
    client_id: str = demo.GRANULAR_APP_CLIENT_ID,
    client_secret: str = demo.GRANULAR_APP_CLIENT_SECRET,
    scope: str | None = " ".join(sorted(demo.GRANULAR_APP_SCOPES)),
    user_gid: str = demo.DEMO_ADMIN_USER_GID,
) -> dict[str, str]:
    """Authorization headers with an OAuth access token, by default the granular-scope demo app's."""
    grant = obtain_code(sandbox, client_id=client_id, scope=scope, user_gid=user_gid)
    response = exchange(sandbox, grant, client_id=client_id, client_secret=client_secret)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def control(sandbox: AsanaSandbox, route: str, /, **body: object) -> dict[str, Any]:
    """POST to the control API and return its answer, which must be ok."""
    response = requests.post(f"{sandbox.base_url}/_sandbox/{route}", json=body, timeout=30)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def call(
    sandbox: AsanaSandbox,
    method: str,
    path: str,
    headers: dict[str, str],
    data: dict[str, Any] | None = None,
    **params: str | int,
) -> requests.Response:
    """One REST API request; `data` becomes Asana's `{"data": {...}}` body."""
    body = None if data is None else {"data": data}
    return requests.request(
        method, f"{sandbox.api_base_url}{path}", headers=headers, params=params, json=body, timeout=10
    )


def page_all(sandbox: AsanaSandbox, path: str, headers: dict[str, str], **params: str | int) -> tuple[list[Any], int]:
    """Every record of a listing, following next_page with limit=100; returns (records, requests made)."""
    records: list[Any] = []
    url: str | None = f"{sandbox.api_base_url}{path}"
    query: dict[str, str | int] | None = {"limit": 100, **params}
    calls = 0
    while url is not None:
        response = requests.get(url, headers=headers, params=query, timeout=10)
        calls += 1
        assert response.status_code == 200, response.text
        body = response.json()
        records.extend(body["data"])
        url, query = (body["next_page"]["uri"], None) if body["next_page"] else (None, None)
    return records, calls


def error_message(response: requests.Response) -> str:
    text: str = response.json()["errors"][0]["message"]
    return text
