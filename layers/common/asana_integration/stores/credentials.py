"""An organization's Asana app credentials (client id, client secret, optional PAT) in Secrets Manager.

One secret per organization, named ``<SECRET_NAME_PREFIX>/<org id>`` so IAM can scope access to the prefix. Reads go
through Powertools' parameters cache; a save or delete clears it so this execution environment never serves a stale
credential (others see the change within ``CACHE_SECONDS``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError

from asana_integration.config import Config
from asana_integration.models.credentials import OrgCredentials

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

# Short enough that a rotated PAT reaches every warm Lambda within a minute, long enough to spare most reads.
CACHE_SECONDS = 60


class CredentialStore:
    def __init__(self, config: Config, client: SecretsManagerClient | None = None) -> None:
        self._config = config
        self._client = client or boto3.client("secretsmanager")
        self._provider = SecretsProvider(boto3_client=self._client)

    def secret_name(self, org_id: str) -> str:
        return f"{self._config.secret_name_prefix}/{org_id}"

    def get(self, org_id: str) -> OrgCredentials | None:
        try:
            value = self._provider.get(self.secret_name(org_id), transform="json", max_age=CACHE_SECONDS)
        except GetParameterError as error:
            # Powertools wraps every failure; only "no such secret" means "not configured".
            if _is_not_found(error.__context__):
                return None
            raise
        return OrgCredentials.model_validate(value)

    def save(self, org_id: str, credentials: OrgCredentials) -> None:
        name = self.secret_name(org_id)
        try:
            self._client.put_secret_value(SecretId=name, SecretString=credentials.to_secret_string())
        except ClientError as error:
            if not _is_not_found(error):
                raise
            self._client.create_secret(
                Name=name,
                KmsKeyId=self._config.kms_key_id,
                SecretString=credentials.to_secret_string(),
                Description="SecureDB Asana integration: the organization's Asana app credentials",
                Tags=[{"Key": "securedb:org_id", "Value": org_id}],
            )
        self._provider.clear_cache()

    def delete(self, org_id: str) -> None:
        # Without a recovery window: an admin who disconnects expects the secret gone, and a reconnect must be able
        # to create it again under the same name right away.
        try:
            self._client.delete_secret(SecretId=self.secret_name(org_id), ForceDeleteWithoutRecovery=True)
        except ClientError as error:
            if not _is_not_found(error):
                raise
        self._provider.clear_cache()


def _is_not_found(error: BaseException | None) -> bool:
    return isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") == "ResourceNotFoundException"
