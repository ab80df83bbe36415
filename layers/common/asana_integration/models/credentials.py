"""An organization's Asana app credentials: client id, client secret and an optional company PAT."""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, SecretStr


class OrgCredentials(BaseModel):
    """Secrets stay ``SecretStr`` in memory: a repr, a log line or a validation error shows ``**********``."""

    model_config = ConfigDict(frozen=True)

    client_id: str
    client_secret: SecretStr
    pat: SecretStr | None = None

    @property
    def pat_last4(self) -> str | None:
        return self.pat.get_secret_value()[-4:] if self.pat else None

    def to_secret_string(self) -> str:
        return json.dumps(
            {
                "client_id": self.client_id,
                "client_secret": self.client_secret.get_secret_value(),
                "pat": self.pat.get_secret_value() if self.pat else None,
            }
        )
