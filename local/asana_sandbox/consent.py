"""The sandbox's stand-in for Asana's consent screen: plain, accessible HTML (labelled controls, real buttons).

Asana's consent screen acts as whoever is signed in to Asana in that browser. The sandbox has no Asana sign-in of its
own, so the page lets the tester choose which sandbox user approves, and says which one it pre-selected and why:

- the user named by the authorize request's `login_hint` (a gid or an email, case-insensitive), the OpenID Connect
  parameter a client uses to say who it expects to sign in. Whether Asana honours `login_hint` is unconfirmed, so the
  integration does not send it; a script may;
- otherwise the user "signed in to Asana in this browser": the one the browser's `asana_sandbox_user` cookie names
  (a gid or an email). Local mode's dev sign-in sets it to the SecureDB user's email when a person signs in there, as a
  company whose SecureDB and Asana share one sign-in would have it, so the pre-selected Asana user is the one matching
  the SecureDB user (a member approves as themselves, not as the admin). Cookies belong to a host, whatever its port,
  so the sandbox reads what the dev sign-in set on the same host;
- otherwise the first admin (by gid: Dana Admin in the demo data);
- otherwise the first user.

A form posted without `user_gid` approves as that same default, so scripted flows keep working.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from flask import render_template_string

from local.asana_sandbox.models import OAuthApp, User


@dataclass(frozen=True)
class DefaultApprover:
    user: User
    reason: str


# The browser's "signed in to Asana as" (see the module's docstring): set by local mode's dev sign-in.
SIGNED_IN_COOKIE = "asana_sandbox_user"


def default_approver(users: Sequence[User], login_hint: str | None, signed_in: str | None = None) -> DefaultApprover:
    """Who the consent page pre-selects, and the sentence that tells the tester why."""
    by_gid = sorted(users, key=lambda u: int(u.gid))
    hinted = _named(by_gid, login_hint)
    if hinted is not None:
        return DefaultApprover(hinted, "the authorize request's login_hint names this user")
    browser_user = _named(by_gid, signed_in)
    if browser_user is not None:
        return DefaultApprover(
            browser_user, "this browser is signed in to the sandbox as this user (the dev sign-in's matching user)"
        )
    admin = next((u for u in by_gid if u.admin_workspace_gids), None)
    fallback = "no user matches the login_hint" if login_hint else "the authorize request sent no login_hint"
    if signed_in:
        fallback += " and no sandbox user matches this browser's sign-in"
    if admin is not None:
        return DefaultApprover(admin, f"{fallback}, so the first workspace admin is pre-selected")
    return DefaultApprover(by_gid[0], f"{fallback} and there is no admin, so the first user is pre-selected")


def _named(users: Sequence[User], name: str | None) -> User | None:
    """The user a gid or an email (any case) names, if any."""
    if not name:
        return None
    wanted = name.strip().lower()
    return next((u for u in users if u.gid == wanted or (u.email or "").lower() == wanted), None)


# render_template_string autoescapes, so app names, scopes and echoed parameters cannot inject markup.
_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Authorize {{ app.name }} - Asana sandbox</title>
</head>
<body>
<main>
  <h1>{{ app.name }} wants to access your Asana account</h1>
  <p>This is the local Asana sandbox, not the real Asana.</p>
  <form method="post" action="{{ action }}">
    {% for name, value in hidden.items() %}
    <input type="hidden" name="{{ name }}" value="{{ value }}">
    {% endfor %}
    <fieldset>
      <legend>Requested permissions</legend>
      <ul id="scopes">
        {% for scope in scopes %}<li>{{ scope }}</li>{% endfor %}
      </ul>
    </fieldset>
    <p id="approver-note">Approving as <strong>{{ approver.user.name }}</strong>: {{ approver.reason }}.
      Real Asana approves as the user signed in to Asana in this browser; here, choose who that is.</p>
    <p>
      <label for="user_gid">Signed in to Asana as (the user who approves)</label>
      <select id="user_gid" name="user_gid" aria-describedby="approver-note">
        {% for user in users %}
        <option value="{{ user.gid }}"{% if user.gid == approver.user.gid %} selected{% endif %}>
          {{ user.name }}{% if user.email %} ({{ user.email }}){% endif %}</option>
        {% endfor %}
      </select>
    </p>
    <button type="submit" name="decision" value="approve">Allow</button>
    <button type="submit" name="decision" value="deny">Deny</button>
  </form>
</main>
</body>
</html>
"""


def render_consent_page(
    *,
    app: OAuthApp,
    scopes: Sequence[str],
    users: Sequence[User],
    approver: DefaultApprover,
    action: str,
    hidden: Mapping[str, str],
) -> str:
    return render_template_string(
        _TEMPLATE, app=app, scopes=scopes, users=users, approver=approver, action=action, hidden=hidden
    )
