"""The credential store: organization ids in secret names and tags, the deletion window after a disconnect, and which
Secrets Manager errors mean "gone".

Names and tags are checked against AWS's documented character rules (moto accepts any name). The deletion window is
not modelled by moto, so those tests drive the store with botocore's ``Stubber``: AWS's answers, in order.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from asana_integration.config import Config, get_config
from asana_integration.errors import CredentialsChanging, DisconnectInProgress, SaveInProgress
from asana_integration.models.credentials import OrgCredentials
from asana_integration.stores import credentials as store_module
from asana_integration.stores.credential_revisions import (
    LOCK_SECONDS,
    CredentialRevisionStore,
    Published,
    RevisionLockBusy,
)
from asana_integration.stores.credentials import CredentialStore, decode_org_id, encode_org_id
from asana_integration.web.dependencies import Services
from tests import log_audit

# https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html (Name) and
# https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_Tag.html (Value).
SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
TAG_VALUE = re.compile(r"^[\w\s.:/=+\-@]*$")  # letters, digits and spaces of any script, and _.:/=+-@

# Organization ids as identity.py accepts them; ids made of the escape's own characters (where collisions would hide);
# and any text at all.
ORG_IDS = (
    st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:@|-]{0,127}\Z")
    | st.text(alphabet="a:|=3ACD7", min_size=1, max_size=12)
    | st.text(min_size=1, max_size=64)
)
# No example database: nothing is written into the working tree, and every run draws afresh.
PROPERTY = settings(database=None, max_examples=300)

CREDENTIALS = OrgCredentials(client_id="1208000000000001", client_secret="client-secret-value", pat="2/1/2:pat-value")
STALLED_PAT, LATER_PAT, ANOTHER_PAT = "2/1/2:stalled-pat", "2/1/2:later-pat-value", "2/1/2:another-pat-value"
log_audit.remember("client-secret-value", "2/1/2:pat-value", STALLED_PAT, LATER_PAT, ANOTHER_PAT)
INVALID_REQUEST = "InvalidRequestException"
MARKED_FOR_DELETION = "You can't perform this operation on the secret because it was marked for deletion."
SCHEDULED_FOR_DELETION = (
    "You can't create this secret because a secret with this name is already scheduled for deletion."
)


def config(**overrides: str) -> Config:
    values = {
        "TABLE_NAME": "table",
        "KMS_KEY_ID": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "PUBLIC_BASE_URL": "https://expand.securedb.io",
        "SECRET_NAME_PREFIX": "securedb-asana",
    }
    return Config.model_validate({**values, **overrides})


# --- the encoding ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("org_id", ["org-a", "acme", "Org_42.eu@securedb", "0-0"])
def test_ids_of_the_safe_alphabet_keep_their_secret_names(org_id):
    store = CredentialStore(config(), client=boto3.client("secretsmanager"))

    assert encode_org_id(org_id) == org_id
    assert store.secret_name(org_id) == f"securedb-asana/{org_id}"


@pytest.mark.parametrize(
    ("org_id", "encoded"),
    [
        ("auth0|5f1c", "auth0=7C5f1c"),
        ("urn:org:42", "urn=3Aorg=3A42"),
        ("a=b", "a=3Db"),
        ("a=3Ab", "a=3D3Ab"),  # what "a:b" encodes to, as an id of its own: still distinct
        ("a:b", "a=3Ab"),
        ("é", "=C3=A9"),  # outside identity.py's alphabet, but the encoding still holds: each UTF-8 byte
    ],
)
def test_other_characters_are_escaped_as_hex_and_read_back(org_id, encoded):
    assert encode_org_id(org_id) == encoded
    assert decode_org_id(encoded) == org_id


@PROPERTY
@given(ORG_IDS)
def test_every_encoding_is_a_legal_secret_name_and_tag_value_and_decodes_back(org_id):
    encoded = encode_org_id(org_id)

    assert SECRET_NAME.match(f"securedb-asana/{encoded}")
    assert "/" not in encoded, "a name's last segment must stay one segment"
    assert TAG_VALUE.match(encoded)
    assert decode_org_id(encoded) == org_id


@PROPERTY
@given(ORG_IDS, ORG_IDS)
def test_two_distinct_ids_never_share_a_secret_name(first, second):
    # secret_name is the prefix, "/" and this encoding (test_ids_of_the_safe_alphabet_keep_their_secret_names).
    assume(first != second)

    assert encode_org_id(first) != encode_org_id(second)


@pytest.mark.parametrize("text", ["a=", "a=3", "a=3a", "a=41", "a:b", "a|b", "=FF"])
def test_text_no_id_encodes_to_is_refused_by_the_decoder(text):
    # "=41" would decode to "A", which encodes as itself: accepting it would give one id two names.
    with pytest.raises(ValueError, match=r"^not an encoded organization id$"):
        decode_org_id(text)


# --- names and tags on Secrets Manager (moto) ------------------------------------------------------------------


@pytest.mark.parametrize("org_id", ["auth0|org_5f1c", "urn:securedb:org:42", "org=1"])
def test_ids_with_colon_bar_or_equals_are_saved_and_read_under_legal_names(aws, org_id):
    store = CredentialStore(get_config())

    saved = store.save(org_id, CREDENTIALS)

    secrets = boto3.client("secretsmanager").list_secrets()["SecretList"]
    assert [secret["Name"] for secret in secrets] == [store.secret_name(org_id)]
    assert SECRET_NAME.match(secrets[0]["Name"])
    tags = {tag["Key"]: tag["Value"] for tag in secrets[0]["Tags"]}
    assert tags == {"securedb:org_id": encode_org_id(org_id)}
    assert TAG_VALUE.match(tags["securedb:org_id"])
    assert decode_org_id(tags["securedb:org_id"]) == org_id
    assert store.get(org_id) == saved == CREDENTIALS.model_copy(update={"revision": saved.revision})


def test_an_id_and_the_encoding_of_another_id_stay_two_organizations(aws):
    store = CredentialStore(get_config())
    other = OrgCredentials(client_id="1208000000000002", client_secret="another-secret")

    first = store.save("a:b", CREDENTIALS)
    second = store.save("a=3Ab", other)

    assert store.get("a:b") == first
    assert store.get("a=3Ab") == second
    assert (first.client_id, second.client_id) == (CREDENTIALS.client_id, other.client_id)


def test_a_secret_saved_under_a_plain_id_before_the_encoding_is_still_found(aws):
    boto3.client("secretsmanager").create_secret(
        Name="securedb-asana/org-legacy", SecretString=CREDENTIALS.to_secret_string()
    )

    assert CredentialStore(get_config()).get("org-legacy") == CREDENTIALS


def test_an_id_whose_encoding_just_fits_a_tag_is_tagged(aws):
    org_id = "a" * store_module.TAG_VALUE_MAX_LENGTH  # 256 characters, Secrets Manager's limit for a tag value

    CredentialStore(get_config()).save(org_id, CREDENTIALS)

    (secret,) = boto3.client("secretsmanager").list_secrets()["SecretList"]
    assert secret["Tags"] == [{"Key": store_module.ORG_ID_TAG, "Value": org_id}]


def test_an_id_too_long_for_a_tag_is_saved_untagged(aws):
    org_id = "a" + "|" * 127  # identity.py's longest id, nearly all escaped: 382 characters encoded
    store = CredentialStore(get_config())

    saved = store.save(org_id, CREDENTIALS)

    (secret,) = boto3.client("secretsmanager").list_secrets()["SecretList"]
    assert SECRET_NAME.match(secret["Name"])
    assert not secret.get("Tags")
    assert store.get(org_id) == saved


# --- the deletion window after a disconnect (AWS's answers, stubbed) -------------------------------------------


class RecordingSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


REVISION = 1_767_225_600_000_000  # what the revision store hands out in the stubbed tests


class MemoryRevisions:
    """The revision store's contract in memory, for tests whose Secrets Manager answers are stubbed."""

    def __init__(self) -> None:
        self.published: int | None = None
        self.locked_by: str | None = None
        self.rejected: list[int] = []  # the revisions whose PAT was marked refused

    def current(self, org_id: str) -> Published | None:
        return None if self.published is None else Published(self.published, pat_rejected=False)

    def lock(self, org_id: str, owner: str) -> int:
        if self.locked_by is not None:
            raise RevisionLockBusy()
        self.locked_by = owner
        return REVISION if self.published is None else self.published + 1

    def commit(self, org_id: str, owner: str, revision: int) -> bool:
        mine = self.locked_by == owner
        if mine:
            self.published, self.locked_by = revision, None
        return mine

    def release(self, org_id: str, owner: str) -> None:
        if self.locked_by == owner:
            self.locked_by = None

    def delete(self, org_id: str) -> None:
        self.published = self.locked_by = None

    def mark_pat_rejected(self, org_id: str, revision: int) -> bool:
        self.rejected.append(revision)
        return revision == self.published


def stubbed_store(sleep: RecordingSleep) -> tuple[CredentialStore, Stubber]:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    store = CredentialStore(config(), client=client, revisions=MemoryRevisions(), sleep=sleep)  # type: ignore[arg-type]
    return store, Stubber(client)


@pytest.fixture
def stubbed(sleep: RecordingSleep) -> Iterator[tuple[CredentialStore, Stubber]]:
    """A store whose client answers exactly what the test queued, and nothing was left unasked."""
    store, stubber = stubbed_store(sleep)
    with stubber:
        yield store, stubber
        stubber.assert_no_pending_responses()


def stored_string(revision: int = REVISION) -> str:
    return CREDENTIALS.model_copy(update={"revision": revision}).to_secret_string()


def put_params(name: str = "securedb-asana/org-a") -> dict[str, Any]:
    return {"SecretId": name, "SecretString": stored_string()}


def create_params(name: str = "securedb-asana/org-a", tag: str = "org-a") -> dict[str, Any]:
    return {
        "Name": name,
        "KmsKeyId": config().kms_key_id,
        "SecretString": stored_string(),
        "Description": "SecureDB Asana integration: the organization's Asana app credentials",
        "Tags": [{"Key": "securedb:org_id", "Value": tag}],
    }


def created(name: str = "securedb-asana/org-a") -> dict[str, Any]:
    return {"ARN": f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-AbCdEf", "Name": name}


def put_answer() -> dict[str, Any]:
    return {"ARN": created()["ARN"], "Name": created()["Name"], "VersionId": "8d4f5b7a-0c1e-4a1b-9e2f-3c4d5e6f7a8b"}


def test_a_save_right_after_a_disconnect_waits_until_the_deletion_completes(stubbed, sleep):
    store, stub = stubbed
    stub.add_client_error("put_secret_value", INVALID_REQUEST, MARKED_FOR_DELETION, expected_params=put_params())
    stub.add_client_error("put_secret_value", "ResourceNotFoundException", "gone", expected_params=put_params())
    stub.add_client_error("create_secret", INVALID_REQUEST, SCHEDULED_FOR_DELETION, expected_params=create_params())
    stub.add_client_error("put_secret_value", "ResourceNotFoundException", "gone", expected_params=put_params())
    stub.add_response("create_secret", created(), expected_params=create_params())

    store.save("org-a", CREDENTIALS, remaining_time_ms=lambda: 29_000)

    assert len(sleep.waits) == 2
    assert sleep.waits[0] <= store_module.FIRST_RETRY_DELAY_SECONDS


def test_a_deletion_that_outlasts_the_wait_answers_409_and_writes_nothing(sleep):
    store, stub = stubbed_store(sleep)  # more answers than it may use: that it stops on its own is the point
    for _ in range(20):
        stub.add_client_error("put_secret_value", INVALID_REQUEST, MARKED_FOR_DELETION)

    with stub, pytest.raises(DisconnectInProgress) as caught:
        store.save("org-a", CREDENTIALS)

    error = caught.value
    assert (error.status, error.code) == (409, "disconnect_in_progress")
    assert error.message == "A disconnect is still being completed; try again in a minute."
    assert error.retry_after == 60
    assert 2 <= len(sleep.waits) < 19, "it retried, and it stopped on its own"
    assert sum(sleep.waits) <= store_module.DELETION_WAIT_SECONDS
    assert max(sleep.waits) <= store_module.MAX_RETRY_DELAY_SECONDS


def test_the_deletion_wait_doubles_its_pause_up_to_the_cap_and_stops_within_the_bound(sleep, monkeypatch):
    monkeypatch.setattr(store_module.random, "uniform", lambda low, high: low)  # the shortest jitter: most retries
    store, stub = stubbed_store(sleep)
    for _ in range(20):
        stub.add_client_error("put_secret_value", INVALID_REQUEST, MARKED_FOR_DELETION)

    with stub, pytest.raises(DisconnectInProgress):
        store.save("org-a", CREDENTIALS)

    # Half of 0.5, 1, 2, 4 (the cap), 4, 4, 4 s: 9.75 s in all; one more pause would pass the 10 s bound.
    assert sleep.waits == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0, 2.0]


def test_a_deletion_completing_as_the_wait_reaches_its_bound_exactly_is_waited_out(stubbed, sleep, monkeypatch):
    # Full pauses of 0.5, 1, 2 and 4 s (7.5 s), then a jittered 2.5 s: exactly DELETION_WAIT_SECONDS, still allowed.
    factors = iter([1.0, 1.0, 1.0, 1.0, 0.625])
    monkeypatch.setattr(store_module.random, "uniform", lambda low, high: next(factors))
    store, stub = stubbed
    for _ in range(5):
        stub.add_client_error("put_secret_value", INVALID_REQUEST, MARKED_FOR_DELETION, expected_params=put_params())
    stub.add_response("put_secret_value", put_answer(), expected_params=put_params())

    saved = store.save("org-a", CREDENTIALS)

    assert sleep.waits == [0.5, 1.0, 2.0, 4.0, 2.5]
    assert sum(sleep.waits) == store_module.DELETION_WAIT_SECONDS
    assert saved.revision == REVISION


def test_a_save_does_not_wait_into_the_time_verification_needs(stubbed, sleep):
    store, stub = stubbed
    stub.add_client_error("put_secret_value", INVALID_REQUEST, MARKED_FOR_DELETION)

    with pytest.raises(DisconnectInProgress):
        store.save("org-a", CREDENTIALS, remaining_time_ms=lambda: store_module.TIME_RESERVE_MS + 100)

    assert sleep.waits == []


def test_a_save_waits_when_the_wait_leaves_exactly_the_reserve(stubbed, sleep, monkeypatch):
    monkeypatch.setattr(store_module.random, "uniform", lambda low, high: high)  # no jitter: the full first delay
    store, stub = stubbed
    stub.add_client_error("put_secret_value", INVALID_REQUEST, MARKED_FOR_DELETION, expected_params=put_params())
    stub.add_response("put_secret_value", put_answer(), expected_params=put_params())
    first_delay_ms = round(store_module.FIRST_RETRY_DELAY_SECONDS * 1000)

    store.save("org-a", CREDENTIALS, remaining_time_ms=lambda: store_module.TIME_RESERVE_MS + first_delay_ms)

    assert sleep.waits == [store_module.FIRST_RETRY_DELAY_SECONDS]


def test_other_failures_of_a_save_are_not_retried(stubbed, sleep):
    store, stub = stubbed
    stub.add_client_error("put_secret_value", "AccessDeniedException", "not authorized", http_status_code=400)

    with pytest.raises(Exception, match="AccessDeniedException"):
        store.save("org-a", CREDENTIALS)

    assert sleep.waits == []


def test_a_secret_created_by_a_concurrent_save_is_overwritten_not_failed(stubbed, sleep):
    store, stub = stubbed
    stub.add_client_error("put_secret_value", "ResourceNotFoundException", "gone", expected_params=put_params())
    stub.add_client_error("create_secret", "ResourceExistsException", "exists", expected_params=create_params())
    stub.add_response("put_secret_value", put_answer(), expected_params=put_params())

    store.save("org-a", CREDENTIALS)

    assert sleep.waits == []


def test_the_escaped_id_is_used_in_the_name_and_the_tag_of_a_new_secret(stubbed):
    store, stub = stubbed
    name = "securedb-asana/auth0=7Corg"
    stub.add_client_error("put_secret_value", "ResourceNotFoundException", "gone", expected_params=put_params(name))
    stub.add_response("create_secret", created(name), expected_params=create_params(name, tag="auth0=7Corg"))

    store.save("auth0|org", CREDENTIALS)


# --- which errors mean "gone" ----------------------------------------------------------------------------------


def test_delete_treats_only_a_missing_secret_as_already_deleted(stubbed):
    store, stub = stubbed
    stub.add_client_error("delete_secret", "ResourceNotFoundException", "gone")
    store.delete("org-a")

    stub.add_client_error("delete_secret", "AccessDeniedException", "not authorized", http_status_code=400)
    with pytest.raises(Exception, match="AccessDeniedException"):
        store.delete("org-a")

    stub.add_client_error("delete_secret", "ThrottlingException", "slow down", http_status_code=400)
    with pytest.raises(Exception, match="ThrottlingException"):
        store.delete("org-a")


def test_a_second_disconnect_while_the_first_completes_answers_409(stubbed):
    store, stub = stubbed
    stub.add_client_error("delete_secret", INVALID_REQUEST, MARKED_FOR_DELETION)

    with pytest.raises(DisconnectInProgress):
        store.delete("org-a")


def test_delete_asks_for_no_recovery_window(stubbed):
    store, stub = stubbed
    stub.add_response(
        "delete_secret",
        {"Name": "securedb-asana/org-a"},
        expected_params={"SecretId": "securedb-asana/org-a", "ForceDeleteWithoutRecovery": True},
    )

    store.delete("org-a")


def test_a_secret_marked_for_deletion_reads_as_not_configured(stubbed):
    store, stub = stubbed
    stub.add_client_error("get_secret_value", INVALID_REQUEST, MARKED_FOR_DELETION)
    stub.add_client_error("get_secret_value", "ResourceNotFoundException", "gone")

    assert store.get("org-a") is None
    assert store.get("org-a") is None


def test_a_secret_that_cannot_be_read_is_an_error_not_an_absence(stubbed):
    store, stub = stubbed
    stub.add_client_error("get_secret_value", "AccessDeniedException", "not authorized", http_status_code=400)

    with pytest.raises(Exception, match="AccessDeniedException"):
        store.get("org-a")


def test_secrets_manager_not_answering_is_an_error_not_an_absence(sleep):
    store, _stub = stubbed_store(sleep)
    unreachable = EndpointConnectionError(endpoint_url="https://secretsmanager.us-east-1.amazonaws.com/")

    def get_secret_value(**_: Any) -> dict[str, Any]:
        raise unreachable

    store._client.get_secret_value = get_secret_value  # type: ignore[attr-defined,method-assign]

    with pytest.raises(GetParameterError) as caught:
        store.get("org-a")

    assert caught.value.__context__ is unreachable


def secret_answer(credentials: OrgCredentials) -> dict[str, Any]:
    return {"Name": "securedb-asana/org-a", "SecretString": credentials.to_secret_string()}


def test_while_the_revision_is_current_the_secret_is_read_once_through_the_cache(stubbed):
    store, stub = stubbed
    stub.add_response("put_secret_value", put_answer())
    saved = store.save("org-a", CREDENTIALS)
    stub.add_response("get_secret_value", secret_answer(saved))

    assert store.get("org-a") == saved
    assert store.get("org-a") == saved, "the second read is served from the cache"


def test_a_save_by_another_execution_environment_is_read_at_once_not_after_the_cache_expires(sleep):
    revisions = MemoryRevisions()  # the table both environments read
    environments = []
    for _ in range(2):
        client = boto3.client("secretsmanager", region_name="us-east-1")
        store = CredentialStore(config(), client=client, revisions=revisions, sleep=sleep)  # type: ignore[arg-type]
        environments.append((store, Stubber(client)))
    (saver, saver_stub), (reader, reader_stub) = environments
    with saver_stub, reader_stub:
        saver_stub.add_response("put_secret_value", put_answer())
        first = saver.save("org-a", CREDENTIALS)
        reader_stub.add_response("get_secret_value", secret_answer(first))
        assert reader.get("org-a") == first  # now cached in the reader's environment

        saver_stub.add_response("put_secret_value", put_answer())
        second = saver.save("org-a", CREDENTIALS.model_copy(update={"client_id": "1208000000000009"}))
        reader_stub.add_response("get_secret_value", secret_answer(second))

        assert reader.get("org-a") == second
        assert (second.revision or 0) > (first.revision or 0) > 0
        reader_stub.assert_no_pending_responses()
    assert sleep.waits == []


def test_secrets_manager_lagging_behind_a_save_is_asked_again_then_answered_with_a_503(stubbed, sleep):
    store, stub = stubbed
    stub.add_response("put_secret_value", put_answer())
    saved = store.save("org-a", CREDENTIALS)
    older = CREDENTIALS.model_copy(update={"revision": saved.revision - 1 if saved.revision else 0})
    for _ in range(1 + 1 + len(store_module.FRESH_READ_PAUSES_SECONDS)):  # the cached read, then every fresh one
        stub.add_response("get_secret_value", secret_answer(older))

    with pytest.raises(CredentialsChanging) as caught:
        store.get("org-a")

    assert (caught.value.status, caught.value.retry_after) == (503, 2)
    assert sleep.waits == list(store_module.FRESH_READ_PAUSES_SECONDS)


def test_a_secret_from_before_revisions_is_older_than_the_first_save(stubbed, sleep):
    """A secret without a revision (written before revisions existed) is not what the first save wrote."""
    store, stub = stubbed
    stub.add_response("put_secret_value", put_answer())
    store.save("org-a", CREDENTIALS)
    unstamped = CREDENTIALS.model_copy(update={"revision": None})
    for _ in range(1 + 1 + len(store_module.FRESH_READ_PAUSES_SECONDS)):
        stub.add_response("get_secret_value", secret_answer(unstamped))

    with pytest.raises(CredentialsChanging):
        store.get("org-a")


def test_secrets_manager_catching_up_after_a_pause_serves_the_saved_credentials(stubbed, sleep):
    store, stub = stubbed
    stub.add_response("put_secret_value", put_answer())
    saved = store.save("org-a", CREDENTIALS)
    older = CREDENTIALS.model_copy(update={"revision": 1})
    stub.add_response("get_secret_value", secret_answer(older))  # the cache
    stub.add_response("get_secret_value", secret_answer(older))  # at once: still the old version
    stub.add_response("get_secret_value", secret_answer(saved))  # after the first pause

    assert store.get("org-a") == saved
    assert sleep.waits == [store_module.FRESH_READ_PAUSES_SECONDS[0]]


def test_a_save_while_another_holds_the_lock_waits_then_answers_409_and_writes_nothing(stubbed, sleep):
    store, _stub = stubbed  # no Secrets Manager answer is queued: a write would fail the test
    store._revisions.lock("org-a", "another-admin")  # type: ignore[attr-defined]

    with pytest.raises(SaveInProgress) as caught:
        store.save("org-a", CREDENTIALS)

    assert (caught.value.status, caught.value.code) == (409, "save_in_progress")
    assert sum(sleep.waits) == store_module.SAVE_LOCK_WAIT_SECONDS, "it waits the bound out, and no longer"


def test_a_failed_write_releases_the_lock_and_publishes_nothing(stubbed):
    store, stub = stubbed
    stub.add_client_error("put_secret_value", "AccessDeniedException", "not authorized", http_status_code=400)

    with pytest.raises(Exception, match="AccessDeniedException"):
        store.save("org-a", CREDENTIALS)

    revisions = store._revisions  # type: ignore[attr-defined]
    assert (revisions.published, revisions.locked_by) == (None, None)


# --- revisions against DynamoDB (moto) -------------------------------------------------------------------------


def test_two_execution_environments_see_each_others_saves_and_disconnects_at_once(aws):
    saver, reader = CredentialStore(get_config()), CredentialStore(get_config())  # two caches, one table
    first = saver.save("org-a", CREDENTIALS)
    assert reader.get("org-a") == first

    changed = saver.save("org-a", CREDENTIALS.model_copy(update={"pat": SecretStr(ANOTHER_PAT)}))
    assert reader.get("org-a") == changed

    saver.delete("org-a")
    assert reader.get("org-a") is None


def test_a_failed_save_leaves_the_next_save_free_to_lock(aws, sleep):
    revisions = CredentialRevisionStore(Services().table)
    failing_client = boto3.client("secretsmanager")
    failing = CredentialStore(get_config(), client=failing_client, revisions=revisions, sleep=sleep)
    with Stubber(failing_client) as stub:
        stub.add_client_error("put_secret_value", "AccessDeniedException", "not authorized", http_status_code=400)
        with pytest.raises(ClientError):
            failing.save("org-a", CREDENTIALS)

    saved = CredentialStore(get_config(), revisions=revisions, sleep=sleep).save("org-a", CREDENTIALS)

    assert sleep.waits == [], "the failed save's lock was released, not left to expire"
    assert CredentialStore(get_config()).get("org-a") == saved


LOCK_EXPIRED = "credentials saved after the save lock expired"


class PausedWrites:
    """A Secrets Manager client whose ``PutSecretValue`` waits for the test's go: a save stalled mid-write."""

    def __init__(self) -> None:
        self._client = boto3.client("secretsmanager")
        self.writing = threading.Event()
        self.go_on = threading.Event()

    def put_secret_value(self, **kwargs: Any) -> Any:
        self.writing.set()
        assert self.go_on.wait(10)
        return self._client.put_secret_value(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_save_that_outlived_its_lock_does_not_publish_over_the_save_holding_it_now(aws, log_output):
    now = [2_000_000_000.0]
    revisions = CredentialRevisionStore(Services().table, clock=lambda: now[0])
    CredentialStore(get_config(), revisions=revisions).save("org-a", CREDENTIALS)  # the secret exists
    stalled, later = PausedWrites(), PausedWrites()
    results: dict[str, OrgCredentials] = {}

    def save(name: str, client: PausedWrites, pat: str) -> None:
        store = CredentialStore(get_config(), client=client, revisions=revisions)  # type: ignore[arg-type]
        results[name] = store.save("org-a", CREDENTIALS.model_copy(update={"pat": SecretStr(pat)}))

    first = threading.Thread(target=save, args=("stalled", stalled, STALLED_PAT))
    first.start()
    assert stalled.writing.wait(10)
    now[0] += LOCK_SECONDS + 1  # the stalled save's lock expires, and another admin's save takes it
    second = threading.Thread(target=save, args=("later", later, LATER_PAT))
    second.start()
    assert later.writing.wait(10)
    stalled.go_on.set()  # the stalled save finishes while the later one holds the lock
    first.join(10)
    assert log_output.getvalue().count(LOCK_EXPIRED) == 1, "the operator is told the stalled save outlived its lock"
    later.go_on.set()
    second.join(10)
    assert log_output.getvalue().count(LOCK_EXPIRED) == 1, "a save that held its lock throughout is not reported"

    published = revisions.current("org-a")
    assert published is not None
    assert published.revision == results["later"].revision > results["stalled"].revision
    assert CredentialStore(get_config()).get("org-a") == results["later"]


def test_revisions_increase_even_when_the_clock_goes_back(aws):
    now = [2_000_000_000.0]
    revisions = CredentialRevisionStore(Services().table, clock=lambda: now[0])
    first = revisions.lock("org-a", "one")
    assert revisions.commit("org-a", "one", first)
    now[0] -= 3600  # another function's clock, an hour behind
    second = revisions.lock("org-a", "two")

    assert second > first
    assert not revisions.commit("org-a", "one", second), "a lock is committed by its owner only"


# --- a PAT Asana refused ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("credentials", "marked"),
    [
        (CREDENTIALS.model_copy(update={"revision": REVISION}), [REVISION]),
        (CREDENTIALS.model_copy(update={"revision": REVISION, "pat": None}), []),  # no PAT to refuse
        (CREDENTIALS, []),  # a secret written before revisions: nothing names what was refused
    ],
    ids=["pat-and-revision", "no-pat", "no-revision"],
)
def test_only_a_saved_pat_of_a_known_revision_is_marked_refused(sleep, credentials, marked):
    revisions = MemoryRevisions()
    client = boto3.client("secretsmanager", region_name="us-east-1")
    store = CredentialStore(config(), client=client, revisions=revisions, sleep=sleep)  # type: ignore[arg-type]

    store.mark_pat_rejected(credentials, "org-a")

    assert revisions.rejected == marked
