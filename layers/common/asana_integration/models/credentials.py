"""An organization's Asana app credentials: client id, client secret and an optional company PAT."""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, SecretStr

# A PAT shorter than this would show too much of itself as its "last 4" (and is not a token Asana issues).
PAT_LAST4_MIN_LENGTH = 16


class OrgCredentials(BaseModel):
    """Secrets stay ``SecretStr`` in memory: a repr, a log line or a validation error shows ``**********``.

    ``revision`` identifies the save that wrote them (``stores/credential_revisions.py``); None before the first save,
    and for secrets written before revisions existed. ``pat_rejected`` is not part of the secret: it says Asana has
    refused this revision's PAT since it was saved, so the PAT no longer acts for the organization.
    """

    model_config = ConfigDict(frozen=True)

    client_id: str
    client_secret: SecretStr
    pat: SecretStr | None = None
    revision: int | None = None
    pat_rejected: bool = False

    @property
    def pat_last4(self) -> str | None:
        """The PAT's last 4 characters, for recognising it; None for a PAT so short they would give most of it away."""
        if self.pat is None or len(self.pat.get_secret_value()) < PAT_LAST4_MIN_LENGTH:
            return None
        return self.pat.get_secret_value()[-4:]

    def to_secret_string(self) -> str:
        return json.dumps(
            {
                "client_id": self.client_id,
                "client_secret": self.client_secret.get_secret_value(),
                "pat": self.pat.get_secret_value() if self.pat else None,
                "revision": self.revision,
            }
        )
