"""Field-level encryption of OAuth tokens with KMS, on top of the table's own encryption at rest.

KMS ``Encrypt``/``Decrypt`` directly (tokens are far below its 4 KB limit, so no data-key envelope is needed). The
encryption context binds each ciphertext to its organization, its user and its field: a ciphertext copied into another
organization's item, another user's item or the other token's attribute does not decrypt, and every decryption is
recorded in CloudTrail with that context. Someone who can read the table but not use the key sees no token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

TokenField = Literal["access_token", "refresh_token"]


class TokenCipher:
    def __init__(self, kms_client: KMSClient, key_id: str) -> None:
        self._kms = kms_client
        self._key_id = key_id

    def encrypt(self, plaintext: str, *, org_id: str, user_id: str, field: TokenField) -> bytes:
        response = self._kms.encrypt(
            KeyId=self._key_id,
            Plaintext=plaintext.encode("utf-8"),
            EncryptionContext=encryption_context(org_id, user_id, field),
        )
        return response["CiphertextBlob"]

    def decrypt(self, ciphertext: bytes, *, org_id: str, user_id: str, field: TokenField) -> str:
        # KeyId pins the key: a ciphertext planted from another key is refused instead of silently decrypted.
        response = self._kms.decrypt(
            KeyId=self._key_id,
            CiphertextBlob=ciphertext,
            EncryptionContext=encryption_context(org_id, user_id, field),
        )
        return response["Plaintext"].decode("utf-8")


def encryption_context(org_id: str, user_id: str, field: TokenField) -> dict[str, str]:
    return {"org_id": org_id, "user_id": user_id, "field": field}
