"""The credential store: organization ids in secret names and tags, the deletion window after a disconnect, and which
Secrets Manager errors mean "gone".

Names and tags are checked against AWS's documented character rules (moto accepts any name). The deletion window is
not modelled by moto, so those tests drive the store with botocore's ``Stubber``: AWS's answers, in order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from asana_integration.config import Config, get_config
from asana_integration.errors import DisconnectInProgress
from asana_integration.models.credentials import OrgCredentials
from asana_integration.stores import credentials as store_module
from asana_integration.stores.credentials import CredentialStore, decode_org_id, encode_org_id

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
    with pytest.raises(ValueError, match="not an encoded organization id"):
        decode_org_id(text)


# --- names and tags on Secrets Manager (moto) ------------------------------------------------------------------


@pytest.mark.parametrize("org_id", ["auth0|org_5f1c", "urn:securedb:org:42", "org=1"])
def test_ids_with_colon_bar_or_equals_are_saved_and_read_under_legal_names(aws, org_id):
    store = CredentialStore(get_config())

    store.save(org_id, CREDENTIALS)

    secrets = boto3.client("secretsmanager").list_secrets()["SecretList"]
    assert [secret["Name"] for secret in secrets] == [store.secret_name(org_id)]
    assert SECRET_NAME.match(secrets[0]["Name"])
    tags = {tag["Key"]: tag["Value"] for tag in secrets[0]["Tags"]}
    assert tags == {"securedb:org_id": encode_org_id(org_id)}
    assert TAG_VALUE.match(tags["securedb:org_id"])
    assert decode_org_id(tags["securedb:org_id"]) == org_id
    assert store.get(org_id) == CREDENTIALS


def test_an_id_and_the_encoding_of_another_id_stay_two_organizations(aws):
    store = CredentialStore(get_config())
    other = OrgCredentials(client_id="1208000000000002", client_secret="another-secret")

    store.save("a:b", CREDENTIALS)
    store.save("a=3Ab", other)

    assert store.get("a:b") == CREDENTIALS
    assert store.get("a=3Ab") == other


def test_a_secret_saved_under_a_plain_id_before_the_encoding_is_still_found(aws):
    boto3.client("secretsmanager").create_secret(
        Name="securedb-asana/org-legacy", SecretString=CREDENTIALS.to_secret_string()
    )

    assert CredentialStore(get_config()).get("org-legacy") == CREDENTIALS


def test_an_id_too_long_for_a_tag_is_saved_untagged(aws):
    org_id = "a" + "|" * 127  # identity.py's longest id, nearly all escaped: 382 characters encoded
    store = CredentialStore(get_config())

    store.save(org_id, CREDENTIALS)

    (secret,) = boto3.client("secretsmanager").list_secrets()["SecretList"]
    assert SECRET_NAME.match(secret["Name"])
    assert not secret.get("Tags")
    assert store.get(org_id) == CREDENTIALS


# --- the deletion window after a disconnect (AWS's answers, stubbed) -------------------------------------------


class RecordingSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


def stubbed_store(sleep: RecordingSleep) -> tuple[CredentialStore, Stubber]:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    return CredentialStore(config(), client=client, sleep=sleep), Stubber(client)


@pytest.fixture
def stubbed(sleep: RecordingSleep) -> Iterator[tuple[CredentialStore, Stubber]]:
    """A store whose client answers exactly what the test queued, and nothing was left unasked."""
    store, stubber = stubbed_store(sleep)
    with stubber:
        yield store, stubber
        stubber.assert_no_pending_responses()


def put_params(name: str = "securedb-asana/org-a") -> dict[str, Any]:
    return {"SecretId": name, "SecretString": CREDENTIALS.to_secret_string()}


def create_params(name: str = "securedb-asana/org-a", tag: str = "org-a") -> dict[str, Any]:
    return {
        "Name": name,
        "KmsKeyId": config().kms_key_id,
        "SecretString": CREDENTIALS.to_secret_string(),
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


def test_a_save_does_not_wait_into_the_time_verification_needs(stubbed, sleep):
    store, stub = stubbed
    stub.add_client_error("put_secret_value", INVALID_REQUEST, MARKED_FOR_DELETION)

    with pytest.raises(DisconnectInProgress):
        store.save("org-a", CREDENTIALS, remaining_time_ms=lambda: store_module.TIME_RESERVE_MS + 100)

    assert sleep.waits == []


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


def test_a_saved_secret_is_read_through_the_cache_and_a_save_refreshes_it(stubbed):
    store, stub = stubbed
    first = {"Name": "securedb-asana/org-a", "SecretString": CREDENTIALS.to_secret_string()}
    stub.add_response("get_secret_value", first)
    assert store.get("org-a") == CREDENTIALS
    assert store.get("org-a") == CREDENTIALS, "the second read is served from the cache"

    changed = CREDENTIALS.model_copy(update={"client_id": "1208000000000009"})
    stub.add_response("put_secret_value", put_answer())
    store.save("org-a", changed)
    stub.add_response("get_secret_value", {"Name": "securedb-asana/org-a", "SecretString": changed.to_secret_string()})

    assert store.get("org-a") == changed
