"""Who is calling: the organization, the user and the admin role, from the JWT authorizer's verified claims only.

API Gateway's JWT authorizer has already checked the token's signature, issuer, audience and expiry; the claims it
passes on are the only source of identity. Nothing in the body, the query string or a header is ever trusted for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from asana_integration.config import Config
from asana_integration.errors import NotAdmin, NotAuthenticated

# Identifiers end up in Secrets Manager names and DynamoDB keys, so only a conservative alphabet is accepted. Matched
# with fullmatch: `$` would also accept a trailing newline.
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@|-]{0,127}")
# A display name is only ever shown (as text, never markup), so any printable text is fine; control characters and
# overlong values are dropped rather than refused: a name never decides anything.
MAX_NAME_LENGTH = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Caller:
    org_id: str
    user_id: str
    is_admin: bool
    name: str | None = None  # from the configured name claim, for showing only

    @property
    def display_name(self) -> str:
        return self.name or self.user_id

    def require_admin(self) -> Caller:
        if not self.is_admin:
            raise NotAdmin()
        return self


def caller_from_claims(claims: dict[str, Any] | None, config: Config) -> Caller:
    """The verified caller. Missing or malformed identity claims are a 401: the token is not one of ours."""
    claims = claims or {}
    org_id = _identifier(claims.get(config.claim_org), config.claim_org)
    user_id = _identifier(claims.get(config.claim_user), config.claim_user)
    roles = parse_roles(claims.get(config.claim_roles))
    return Caller(
        org_id=org_id,
        user_id=user_id,
        is_admin=config.admin_role in roles,
        name=display_name(claims.get(config.claim_name)),
    )


def display_name(value: object) -> str | None:
    """A name claim fit for showing: trimmed, without control characters, at most ``MAX_NAME_LENGTH``; else None."""
    if not isinstance(value, str):
        return None
    name = _CONTROL.sub("", value).strip()[:MAX_NAME_LENGTH].strip()
    return name or None


def parse_roles(value: object) -> frozenset[str]:
    """Roles from a JSON list, or from API Gateway's flattening of one.

    The HTTP API JWT authorizer passes an array claim to Lambda as the string ``"[admin auditor]"``; other identity
    providers send ``"admin,auditor"`` or ``"admin auditor"``. All of them mean the same set.
    """
    if isinstance(value, list | tuple | set | frozenset):
        return frozenset(str(role).strip() for role in value if str(role).strip())
    if isinstance(value, str):
        return frozenset(role for role in re.split(r"[\s,]+", value.strip().strip("[]")) if role)
    return frozenset()


def _identifier(value: object, claim: str) -> str:
    # bool is an int to isinstance, but a true/false claim names no one.
    if isinstance(value, bool) or not isinstance(value, str | int) or not _IDENTIFIER.fullmatch(str(value)):
        raise NotAuthenticated(
            f"Your SecureDB session token has no usable '{claim}' claim.",
            "Sign in to SecureDB again. If this persists, the identity provider must issue the configured claim "
            f"('{claim}'); operators can rename it with the template's claim parameters.",
        )
    return str(value)
