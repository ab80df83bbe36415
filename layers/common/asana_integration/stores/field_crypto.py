"""Field-level encryption with KMS, on top of the table's own encryption at rest: OAuth tokens and webhook secrets.

KMS ``Encrypt``/``Decrypt`` directly (the values are far below its 4 KB limit, so no data-key envelope is needed). The
encryption context binds each ciphertext to where it belongs: a token to its organization, its user and its field; a
webhook secret to its organization and its webhook's path prefix. A ciphertext copied into another organization's
item, another user's or webhook's item, or another attribute does not decrypt, and every decryption is recorded in
CloudTrail with that context. Someone who can read the table but not use the key sees no token and no secret.

The key policy admits each context shape by its exact set of keys (template.yaml, ``IntegrationKey``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

TokenField = Literal["access_token", "refresh_token"]
WEBHOOK_SECRET_FIELD = "webhook_secret"


class _FieldCipher:
    """KMS with a pinned key: a ciphertext planted from another key is refused instead of silently decrypted."""

    def __init__(self, kms_client: KMSClient, key_id: str) -> None:
        self._kms = kms_client
        self._key_id = key_id

    def _encrypt(self, plaintext: str, context: dict[str, str]) -> bytes:
        response = self._kms.encrypt(KeyId=self._key_id, Plaintext=plaintext.encode("utf-8"), EncryptionContext=context)
        return response["CiphertextBlob"]

    def _decrypt(self, ciphertext: bytes, context: dict[str, str]) -> str:
        response = self._kms.decrypt(KeyId=self._key_id, CiphertextBlob=ciphertext, EncryptionContext=context)
        return response["Plaintext"].decode("utf-8")


class TokenCipher(_FieldCipher):
    def encrypt(self, plaintext: str, *, org_id: str, user_id: str, field: TokenField) -> bytes:
        return self._encrypt(plaintext, encryption_context(org_id, user_id, field))

    def decrypt(self, ciphertext: bytes, *, org_id: str, user_id: str, field: TokenField) -> str:
        return self._decrypt(ciphertext, encryption_context(org_id, user_id, field))


class WebhookSecretCipher(_FieldCipher):
    def encrypt(self, secret: str, *, org_id: str, prefix: str) -> bytes:
        return self._encrypt(secret, webhook_secret_context(org_id, prefix))

    def decrypt(self, ciphertext: bytes, *, org_id: str, prefix: str) -> str:
        return self._decrypt(ciphertext, webhook_secret_context(org_id, prefix))


def encryption_context(org_id: str, user_id: str, field: TokenField) -> dict[str, str]:
    return {"org_id": org_id, "user_id": user_id, "field": field}


def webhook_secret_context(org_id: str, prefix: str) -> dict[str, str]:
    return {"org_id": org_id, "webhook_prefix": prefix, "field": WEBHOOK_SECRET_FIELD}
