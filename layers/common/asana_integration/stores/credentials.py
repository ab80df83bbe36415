"""An organization's Asana app credentials (client id, client secret, optional PAT) in Secrets Manager.

One secret per organization, named ``<SECRET_NAME_PREFIX>/<encoded org id>`` so IAM can scope access to the prefix.
Reads go through Powertools' parameters cache; a save or delete clears it so this execution environment never serves a
stale credential (others see the change within ``CACHE_SECONDS``).

**Names.** Organization ids may contain ``:`` and ``|`` (``identity.py``), which Secrets Manager names reject (letters,
digits and ``/_+=.@-`` only) and tag values reject too (``|``). :func:`encode_org_id` escapes them reversibly, and is
the identity on ids made only of letters, digits and ``._@-``, so the secrets of such ids keep their names.

**Disconnect, then save again.** Deleting without a recovery window completes asynchronously: for a short while the
old secret still exists, marked for deletion, and Secrets Manager answers ``InvalidRequestException`` to a
``PutSecretValue`` on it and to a ``CreateSecret`` of its name. A save in that window backs off and retries, within a
bounded wait and the Lambda's remaining time, then gives up with :class:`DisconnectInProgress` (409), never a 500.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import boto3
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError

from asana_integration.config import Config
from asana_integration.errors import DisconnectInProgress
from asana_integration.models.credentials import OrgCredentials
from asana_integration.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_secretsmanager.type_defs import TagTypeDef

# Short enough that a rotated PAT reaches every warm Lambda within a minute, long enough to spare most reads.
CACHE_SECONDS = 60

# Waiting out a deletion in progress: at most this long in all, each pause doubling up to the cap (with jitter).
DELETION_WAIT_SECONDS = 10.0
FIRST_RETRY_DELAY_SECONDS = 0.5
MAX_RETRY_DELAY_SECONDS = 4.0
# Kept free after a save for verifying with Asana (one request's timeout and more) and answering.
TIME_RESERVE_MS = 15_000

ORG_ID_TAG = "securedb:org_id"
TAG_VALUE_MAX_LENGTH = 256  # Secrets Manager's limit for a tag value

# Characters legal in both a secret name and a tag value, except ``=`` (the escape) and ``/`` (a name's separator).
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._@-")
_ESCAPE = "="
_ESCAPED = re.compile(r"=([0-9A-F]{2})")


def encode_org_id(org_id: str) -> str:
    """``org_id`` in characters every secret name and tag value accepts, reversibly and without collisions.

    Each character of ``[A-Za-z0-9._@-]`` stands for itself; every other one becomes ``=`` and the two upper-case hex
    digits of each of its UTF-8 bytes (``:`` → ``=3A``, ``|`` → ``=7C``, ``=`` → ``=3D``). ``=`` never stands for
    itself, so each ``=`` starts exactly one escape and the encoding can be read back one way only.
    """
    return "".join(
        char if char in _SAFE else "".join(f"{_ESCAPE}{byte:02X}" for byte in char.encode()) for char in org_id
    )


def decode_org_id(encoded: str) -> str:
    """The organization id :func:`encode_org_id` encoded, for reading a secret's name or tag back (``ValueError`` for
    text the encoding cannot have produced)."""
    try:
        decoded = _unescape(encoded)
    except UnicodeDecodeError:
        decoded = None
    if decoded is None or encode_org_id(decoded) != encoded:
        raise ValueError("not an encoded organization id")
    return decoded


def _unescape(encoded: str) -> str:
    raw = bytearray()
    position = 0
    for match in _ESCAPED.finditer(encoded):
        raw += encoded[position : match.start()].encode()
        raw.append(int(match.group(1), 16))
        position = match.end()
    raw += encoded[position:].encode()
    return raw.decode(errors="strict")


class CredentialStore:
    def __init__(
        self,
        config: Config,
        client: SecretsManagerClient | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._config = config
        self._client = client or boto3.client("secretsmanager")
        self._provider = SecretsProvider(boto3_client=self._client)
        self._sleep = sleep

    def secret_name(self, org_id: str) -> str:
        return f"{self._config.secret_name_prefix}/{encode_org_id(org_id)}"

    def get(self, org_id: str) -> OrgCredentials | None:
        try:
            value = self._provider.get(self.secret_name(org_id), transform="json", max_age=CACHE_SECONDS)
        except GetParameterError as error:
            # Powertools wraps every failure. "No such secret" means "not configured", and so does a secret marked
            # for deletion (the disconnect that deleted it is still completing): it is gone, only not yet forgotten.
            if _is_not_found(error.__context__) or _is_pending_deletion(error.__context__):
                return None
            raise
        return OrgCredentials.model_validate(value)

    def save(
        self, org_id: str, credentials: OrgCredentials, *, remaining_time_ms: Callable[[], int] | None = None
    ) -> None:
        """Store the credentials, creating the secret on the first save.

        Raises :class:`DisconnectInProgress` when a disconnect's deletion of the secret outlasts the wait.
        """
        waited = 0.0
        attempt = 0
        while True:
            try:
                self._write(org_id, credentials)
                break
            except ClientError as error:
                if not _is_pending_deletion(error):
                    raise
                delay = min(MAX_RETRY_DELAY_SECONDS, FIRST_RETRY_DELAY_SECONDS * 2**attempt)
                # Jitter keeps two admins' retries apart; it protects nothing secret.
                delay *= random.uniform(0.5, 1.0)  # noqa: S311
                if waited + delay > DELETION_WAIT_SECONDS or not _time_left(remaining_time_ms, delay):
                    logger.warning(
                        "credentials not saved: the secret is still being deleted",
                        extra={"org_id": org_id, "attempts": attempt + 1},
                    )
                    raise DisconnectInProgress() from None
                self._sleep(delay)
                waited += delay
                attempt += 1
        self._provider.clear_cache()

    def delete(self, org_id: str) -> None:
        # Without a recovery window: an admin who disconnects expects the secret gone, and a reconnect must be able
        # to create it again under the same name (``save`` waits out the short window AWS needs to complete it).
        try:
            self._client.delete_secret(SecretId=self.secret_name(org_id), ForceDeleteWithoutRecovery=True)
        except ClientError as error:
            # Only "no such secret" means it is already gone; anything else (denied, throttled) is a real failure.
            if _is_pending_deletion(error):
                raise DisconnectInProgress() from None
            if not _is_not_found(error):
                raise
        finally:
            self._provider.clear_cache()

    def _write(self, org_id: str, credentials: OrgCredentials) -> None:
        name = self.secret_name(org_id)
        try:
            self._client.put_secret_value(SecretId=name, SecretString=credentials.to_secret_string())
            return
        except ClientError as error:
            if not _is_not_found(error):
                raise
        try:
            self._client.create_secret(
                Name=name,
                KmsKeyId=self._config.kms_key_id,
                SecretString=credentials.to_secret_string(),
                Description="SecureDB Asana integration: the organization's Asana app credentials",
                Tags=_org_tags(org_id),
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceExistsException":
                raise
            # Another save created it between our two calls: ours is the later write, so it wins.
            self._client.put_secret_value(SecretId=name, SecretString=credentials.to_secret_string())


def _org_tags(org_id: str) -> list[TagTypeDef]:
    """The tag naming the secret's organization (encoded as in the name), for finding it in the console or billing.

    An id whose encoding outgrows a tag value (only ids of mostly escaped characters can) goes untagged: the secret's
    name already identifies the organization, and refusing the save over a convenience would be worse.
    """
    value = encode_org_id(org_id)
    return [{"Key": ORG_ID_TAG, "Value": value}] if len(value) <= TAG_VALUE_MAX_LENGTH else []


def _time_left(remaining_time_ms: Callable[[], int] | None, delay: float) -> bool:
    return remaining_time_ms is None or remaining_time_ms() - delay * 1000 >= TIME_RESERVE_MS


def _error_code(error: BaseException | None) -> str | None:
    return error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else None


def _is_not_found(error: BaseException | None) -> bool:
    return _error_code(error) == "ResourceNotFoundException"


def _is_pending_deletion(error: BaseException | None) -> bool:
    """Secrets Manager refused because the secret (or one of that name) is marked for deletion.

    ``InvalidRequestException`` means "not valid for the current state of the resource"; for the calls made here,
    with the parameters they pass, the one such state the API reference lists is a secret scheduled for deletion
    (the others concern rotation, replication and secrets managed by another service, none of which ours are).
    """
    return _error_code(error) == "InvalidRequestException"
