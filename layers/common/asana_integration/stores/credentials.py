"""An organization's Asana app credentials (client id, client secret, optional PAT) in Secrets Manager.

One secret per organization, named ``<SECRET_NAME_PREFIX>/<encoded org id>`` so IAM can scope access to the prefix.

**A save reaches every function at once.** Reads go through Powertools' parameters cache, which would let a warm
function act on credentials an admin has just replaced. Each save therefore carries a revision, written into the
secret and then published in DynamoDB (``stores/credential_revisions.py``). A read compares the cached secret's
revision with the published one (one consistent ``GetItem``) and fetches the secret again when it is older, so no
function acts on credentials older than the last save; the cache only spares the Secrets Manager call while nothing
changed. Saves are serialized by a lock on the revision item.

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
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import boto3
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError

from asana_integration.config import Config
from asana_integration.errors import CredentialsChanging, DisconnectInProgress, SaveInProgress
from asana_integration.models.credentials import OrgCredentials
from asana_integration.observability import logger
from asana_integration.stores.credential_revisions import CredentialRevisionStore, RevisionLockBusy

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_secretsmanager.type_defs import TagTypeDef

# How long a read may reuse the secret without asking Secrets Manager, once its revision is confirmed current.
CACHE_SECONDS = 300
# A secret older than the published revision is read again at most this many times (Secrets Manager may lag a moment
# behind a write), with these pauses; then the read gives up with CredentialsChanging rather than act on it.
FRESH_READ_PAUSES_SECONDS = (0.1, 0.25, 0.5)
# Waiting for another admin's save to finish before giving up with SaveInProgress.
SAVE_LOCK_WAIT_SECONDS = 5.0
SAVE_LOCK_POLL_SECONDS = 0.25

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
        raise ValueError("not an encoded organization id") from None
    if encode_org_id(decoded) != encoded:
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
        revisions: CredentialRevisionStore | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._config = config
        self._client = client or boto3.client("secretsmanager")
        self._provider = SecretsProvider(boto3_client=self._client)
        self._revisions = revisions or CredentialRevisionStore(boto3.resource("dynamodb").Table(config.table_name))
        self._sleep = sleep

    def secret_name(self, org_id: str) -> str:
        return f"{self._config.secret_name_prefix}/{encode_org_id(org_id)}"

    def get(self, org_id: str) -> OrgCredentials | None:
        """The organization's credentials as of its last save, or None when none are saved.

        Raises :class:`CredentialsChanging` (503) when Secrets Manager keeps answering with credentials older than the
        last save: nothing may act on those.
        """
        published = self._revisions.current(org_id)
        if published is None:
            # Disconnected, or saved before revisions existed: only Secrets Manager itself can say, so ask it.
            return self._read(org_id, force_fetch=True)
        credentials = self._read(org_id, force_fetch=False)
        pauses = [0.0, *FRESH_READ_PAUSES_SECONDS]  # the cached copy is stale: fetch at once, then with pauses
        while credentials is not None and (credentials.revision or 0) < published.revision:
            if not pauses:
                logger.warning("credentials older than the last save; not used", extra={"org_id": org_id})
                raise CredentialsChanging()
            pause = pauses.pop(0)
            if pause:
                self._sleep(pause)
            credentials = self._read(org_id, force_fetch=True)
        if credentials is not None and published.pat_rejected and credentials.revision == published.revision:
            return credentials.model_copy(update={"pat_rejected": True})
        return credentials

    def mark_pat_rejected(self, credentials: OrgCredentials, org_id: str) -> None:
        """Remember that Asana refused these credentials' PAT (until a save replaces them)."""
        if credentials.revision is not None and credentials.pat is not None:
            self._revisions.mark_pat_rejected(org_id, credentials.revision)

    def _read(self, org_id: str, *, force_fetch: bool) -> OrgCredentials | None:
        try:
            value = self._provider.get(
                self.secret_name(org_id), transform="json", max_age=CACHE_SECONDS, force_fetch=force_fetch
            )
        except GetParameterError as error:
            # Powertools wraps every failure. "No such secret" means "not configured", and so does a secret marked
            # for deletion (the disconnect that deleted it is still completing): it is gone, only not yet forgotten.
            if _is_not_found(error.__context__) or _is_pending_deletion(error.__context__):
                return None
            raise
        return OrgCredentials.model_validate(value)

    def save(
        self, org_id: str, credentials: OrgCredentials, *, remaining_time_ms: Callable[[], int] | None = None
    ) -> OrgCredentials:
        """Store the credentials under a new revision (creating the secret on the first save); the saved credentials.

        From the moment this returns, every function reads these or later ones. Raises :class:`SaveInProgress` while
        another save of the organization holds the lock past the wait, and :class:`DisconnectInProgress` when a
        disconnect's deletion of the secret outlasts the wait.
        """
        owner = uuid.uuid4().hex
        revision = self._lock(org_id, owner)
        saved = credentials.model_copy(update={"revision": revision})
        try:
            self._write_waiting_out_deletion(org_id, saved, remaining_time_ms)
        except BaseException:
            self._revisions.release(org_id, owner)
            raise
        if not self._revisions.commit(org_id, owner, revision):
            # Only a save that outlived its lock gets here; the secret holds ours, the next save's revision is higher.
            logger.warning("credentials saved after the save lock expired", extra={"org_id": org_id})
        self._provider.clear_cache()
        return saved

    def _lock(self, org_id: str, owner: str) -> int:
        waited = 0.0
        while True:
            try:
                return self._revisions.lock(org_id, owner)
            except RevisionLockBusy:
                if waited >= SAVE_LOCK_WAIT_SECONDS:
                    raise SaveInProgress() from None
                self._sleep(SAVE_LOCK_POLL_SECONDS)
                waited += SAVE_LOCK_POLL_SECONDS

    def _write_waiting_out_deletion(
        self, org_id: str, credentials: OrgCredentials, remaining_time_ms: Callable[[], int] | None
    ) -> None:
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

    def delete(self, org_id: str) -> None:
        # The revision first: from then on every read asks Secrets Manager itself, which no longer has the secret (or
        # still has it, if deleting it fails below: then the credentials are simply still there).
        self._revisions.delete(org_id)
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
