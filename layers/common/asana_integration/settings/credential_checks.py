"""Checking new credentials with Asana before they are stored, so a mistake is caught at Save, not at Connect.

* **Client ID and Secret**: a code grant with a made-up code at Asana's token endpoint (RFC 6749 §5.2, see
  ``OAuthEndpoints.check_client``). Only Asana's clear ``invalid_client`` refuses the save; any other answer, or none,
  saves them with a "could not verify" note and its cause, because Asana's exact behaviour is unconfirmed and a guess
  must never block an admin.
* **PAT**: ``GET /users/me`` with it. A PAT Asana refuses, or that cannot be checked at all (Asana unreachable, rate
  limited), refuses the whole save: a working PAT is never replaced by one that was not seen to work.

Each refusal says its real cause (rejected, unreachable, rate limited) and that nothing was saved.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import SecretStr

from asana_integration.asana.client import AsanaClient
from asana_integration.asana.token_source import StaticToken
from asana_integration.config import Config
from asana_integration.connections.service import ConnectionService
from asana_integration.errors import AsanaAuthenticationFailed, AsanaError, IntegrationError
from asana_integration.models.credentials import OrgCredentials
from asana_integration.observability import logger
from asana_integration.settings.models import CredentialsCheck
from asana_integration.tenant_urls import TenantUrls

FIX_CLIENT_REJECTED = (
    "Copy the Client ID and the Client Secret again from the Asana Developer Console (https://app.asana.com/0/"
    "developer-console) → your app → OAuth (click Show Secret). Both must belong to the same app."
)
FIX_PAT_REJECTED_ON_SAVE = (
    "Copy the token again from the Asana Developer Console (https://app.asana.com/0/developer-console) → Personal "
    "Access Tokens: Asana shows it only once, when it is created, so create a new one if it is lost. Or leave the "
    "field empty to keep the saved one."
)


class ClientCredentialsRejected(IntegrationError):
    status = 422
    code = "client_credentials_rejected"

    def __init__(self, *, replacing: bool) -> None:
        unchanged = " The saved settings are unchanged." if replacing else ""
        super().__init__(
            f"Asana rejected this Client ID and Client Secret, so the settings were not saved.{unchanged}",
            FIX_CLIENT_REJECTED,
            details=[
                {"field": "client_secret", "message": "Asana rejected this Client ID and Client Secret"},
                {"field": "client_id", "message": "Asana rejected this Client ID and Client Secret"},
            ],
        )


class PatRejected(IntegrationError):
    status = 422
    code = "pat_rejected"

    def __init__(self, *, replacing: bool) -> None:
        kept = " The saved PAT is unchanged and still in use." if replacing else ""
        super().__init__(
            f"Asana rejected this Personal Access Token, so the settings were not saved.{kept}",
            FIX_PAT_REJECTED_ON_SAVE,
            details=[{"field": "pat", "message": "Asana rejected this token"}],
        )


class CredentialChecks:
    def __init__(self, config: Config, connections: ConnectionService) -> None:
        self._config = config
        self._connections = connections

    def check_client(self, credentials: OrgCredentials, urls: TenantUrls, *, replacing: bool) -> CredentialsCheck:
        """Raises :class:`ClientCredentialsRejected` only for Asana's clear ``invalid_client``."""
        check = self._connections.check_client(credentials, urls)
        logger.info("client credentials checked with asana", extra={"verdict": check.verdict})
        if check.verdict == "rejected":
            raise ClientCredentialsRejected(replacing=replacing)
        if check.verdict == "accepted":
            return CredentialsCheck(client="accepted")
        return CredentialsCheck(
            client="unverified",
            message=f"Saved, but Asana could not confirm the Client ID and Client Secret: {check.reason}",
            fix="Nothing to do now: Connect / Authorize uses them and says so if Asana refuses them. If it keeps "
            "failing, check https://status.asana.com and the proxy settings.",
        )

    def check_pat(self, pat: SecretStr, *, replacing: bool, remaining_time_ms: Callable[[], int] | None) -> None:
        """Raises :class:`PatRejected` when Asana refuses the PAT, or the cause when it could not be checked."""
        client = AsanaClient(StaticToken(pat.get_secret_value()), self._config, remaining_time_ms=remaining_time_ms)
        try:
            client.me(opt_fields=("name",))
        except AsanaAuthenticationFailed:
            logger.info("new pat rejected by asana; nothing saved")
            raise PatRejected(replacing=replacing) from None
        except AsanaError as error:
            logger.info("new pat could not be checked; nothing saved", extra={"error_code": error.code})
            kept = " The saved PAT is unchanged." if replacing else ""
            raise AsanaError(
                f"The new Personal Access Token could not be checked with Asana, so nothing was saved.{kept} "
                f"{error.message}",
                error.fix,
                code=error.code,
                status=error.status,
                retry_after=error.retry_after,
            ) from None
