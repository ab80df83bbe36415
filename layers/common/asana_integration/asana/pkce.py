"""PKCE (RFC 7636) for the authorization code flow: a random verifier kept server-side and its S256 challenge."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field

# RFC 7636 allows 43 to 128 characters; 64 random bytes give 86 URL-safe characters.
PKCE_VERIFIER_BYTES = 64


@dataclass(frozen=True, slots=True)
class Pkce:
    verifier: str = field(repr=False)

    @classmethod
    def generate(cls) -> Pkce:
        return cls(secrets.token_urlsafe(PKCE_VERIFIER_BYTES))

    @property
    def challenge(self) -> str:
        return s256_challenge(self.verifier)


def s256_challenge(verifier: str) -> str:
    """``BASE64URL(SHA256(ASCII(code_verifier)))`` without padding (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
