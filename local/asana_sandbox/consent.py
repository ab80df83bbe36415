"""The sandbox's stand-in for Asana's consent screen: plain, accessible HTML (labelled controls, real buttons)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from flask import render_template_string

from local.asana_sandbox.models import OAuthApp, User

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
    <p>
      <label for="user_gid">Signed in to Asana as</label>
      <select id="user_gid" name="user_gid">
        {% for user in users %}
        <option value="{{ user.gid }}"{% if user.gid == selected_user %} selected{% endif %}>
          {{ user.name }} ({{ user.email }})</option>
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
    selected_user: str,
    action: str,
    hidden: Mapping[str, str],
) -> str:
    return render_template_string(
        _TEMPLATE, app=app, scopes=scopes, users=users, selected_user=selected_user, action=action, hidden=hidden
    )
