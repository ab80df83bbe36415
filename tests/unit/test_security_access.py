"""Which Asana identity acts for an organization (PAT, else the organization's OAuth connection, else Connect), and
that the Lambda's remaining time bounds everything the chosen identity does: waiting for another Lambda's token
refresh and waiting out Asana's rate limit."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import responses

from asana_integration.config import get_config
from asana_integration.connections.service import ConnectionService
from asana_integration.errors import AsanaAuthenticationFailed, AsanaRateLimited, AsanaUnavailable, ConnectionRequired
from asana_integration.identity import Caller
from asana_integration.models.asana import AsanaUser
from asana_integration.models.connections import ConnectionKey
from asana_integration.models.credentials import OrgCredentials
from asana_integration.settings.access import (
    OTHER_APP_MESSAGE,
    REQUIRES_CONNECTION_MESSAGE,
    OrganizationAccessResolver,
)
from asana_integration.stores.connections import ConnectionStore, NewTokens
from asana_integration.stores.credentials import CredentialStore
from asana_integration.stores.field_crypto import TokenCipher
from asana_integration.tenant_urls import TenantUrls

URLS = TenantUrls(base_url="https://acme.expand.securedb.io")
ADMIN = Caller(org_id="org-a", user_id="admin-a", is_admin=True)
MEMBER = Caller(org_id="org-a", user_id="member-a", is_admin=False)
APP = OrgCredentials(client_id="client-1", client_secret="client-secret-1")
WITH_PAT = OrgCredentials(client_id="client-1", client_secret="client-secret-1", pat="2/1201/pat-token-0001")
KEY = ConnectionKey.organization("org-a")


class SteppingClock:
    """Each reading is 10 s after the previous one: a wait that is not cut short by the deadline shows at once."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.readings = 0

    def __call__(self) -> float:
        self.readings += 1
        self.now += 10
        return self.now


def resolver(clock=None) -> OrganizationAccessResolver:
    config = get_config()
    service = ConnectionService(config, clock=clock) if clock else ConnectionService(config)
    return OrganizationAccessResolver(config, CredentialStore(config), service)


def connect_organization(
    *, expires_in: int = 3600, now: float | None = None, client_id: str = APP.client_id
) -> ConnectionStore:
    config = get_config()
    table = boto3.resource("dynamodb").Table(config.table_name)
    at = now if now is not None else 1_800_000_000.0
    store = ConnectionStore(table, TokenCipher(boto3.client("kms"), config.kms_key_id), clock=lambda: at)
    expires_at = int(at) + expires_in
    store.put_connection(
        KEY,
        NewTokens(access_token="oauth-access", refresh_token="oauth-refresh", access_expires_at=expires_at),
        asana_user=AsanaUser(gid="1201", name="Dana Admin"),
        connected_by="admin-a",
        client_id=client_id,
    )
    return store


def save(credentials: OrgCredentials) -> None:
    CredentialStore(get_config()).save("org-a", credentials)


# --- the precedence ------------------------------------------------------------------------------------------------


def test_an_unconfigured_organization_is_told_to_save_the_app_first(aws):
    with pytest.raises(ConnectionRequired) as required:
        resolver().resolve(ADMIN, URLS)
    assert (required.value.status, required.value.code) == (409, "not_configured")
    assert required.value.connect_url is None
    assert "not configured" in required.value.message
    assert "Client ID" in required.value.fix
    assert "Save Asana Settings" in required.value.fix


def test_a_saved_pat_is_preferred_over_the_oauth_connection(aws):
    save(WITH_PAT)
    connect_organization()

    access = resolver().resolve(MEMBER, URLS)

    assert access.mode == "pat"
    assert access.token_source.access_token() == "2/1201/pat-token-0001"
    assert access.oauth_connection is None


def test_without_a_pat_the_organizations_oauth_connection_acts(aws):
    save(APP)
    connect_organization(now=time.time())

    access = resolver().resolve(MEMBER, URLS)

    assert access.mode == "oauth"
    assert access.token_source.access_token() == "oauth-access"
    assert access.oauth_connection is not None
    assert access.oauth_connection.status == "connected"


def test_a_connection_made_with_another_app_does_not_act_and_says_so(aws):
    save(APP)
    connect_organization(now=time.time(), client_id="client-of-an-older-app")

    with pytest.raises(ConnectionRequired) as required:
        resolver().resolve(ADMIN, URLS)

    assert required.value.code == "requires_connection"
    assert required.value.message == OTHER_APP_MESSAGE


def test_a_connection_that_recorded_no_app_is_taken_as_the_saved_apps(aws):
    save(APP)
    connect_organization(now=time.time(), client_id="")  # made before connections recorded their app

    access = resolver().resolve(MEMBER, URLS)

    assert access.mode == "oauth"
    assert access.token_source.access_token() == "oauth-access"


def test_without_pat_or_connection_an_admin_gets_a_connect_link_for_the_tenants_redirect_uri(aws):
    save(APP)

    with pytest.raises(ConnectionRequired) as required:
        resolver().resolve(ADMIN, URLS)

    assert (required.value.status, required.value.code) == (409, "requires_connection")
    assert required.value.message == REQUIRES_CONNECTION_MESSAGE  # not "made with another app": there is none
    assert "Connect / Authorize" in required.value.fix
    query = parse_qs(urlsplit(required.value.connect_url).query)
    assert query["redirect_uri"] == [URLS.redirect_uri]
    assert query["client_id"] == [APP.client_id]


def test_without_pat_or_connection_a_member_gets_no_connect_link(aws):
    save(APP)
    with pytest.raises(ConnectionRequired) as required:
        resolver().resolve(MEMBER, URLS)
    assert required.value.code == "requires_connection"
    assert required.value.connect_url is None


# --- the Lambda's remaining time is passed on -----------------------------------------------------------------------


def test_the_resolved_token_source_stops_waiting_at_the_lambdas_deadline(aws):
    save(APP)
    clock = SteppingClock()
    store = connect_organization(expires_in=-100, now=clock.now)  # expired: needs a refresh
    assert store.acquire_lease(KEY, "another-lambda", lease_seconds=36_000)  # ...which another Lambda is doing

    access = resolver(clock).resolve(MEMBER, URLS, remaining_time_ms=lambda: 2_000)  # less than the 3 s reserve
    start = clock.readings
    with pytest.raises(AsanaUnavailable) as waited:
        access.token_source.access_token()

    assert waited.value.code == "token_refresh_in_progress"
    # With no deadline it would wait for the lease (30 s): three more readings of this clock at the very least.
    assert clock.readings - start <= 3


@responses.activate
def test_the_client_does_not_wait_out_a_rate_limit_longer_than_the_lambda_has_left(aws):
    save(WITH_PAT)
    me = f"{get_config().asana_api_base_url}/users/me"
    responses.get(me, status=429, headers={"Retry-After": "1"}, json={"errors": [{"message": "rate limited"}]})
    responses.get(me, json={"data": {"gid": "1201"}})
    resolver_ = resolver()
    access = resolver_.resolve(ADMIN, URLS)

    with pytest.raises(AsanaRateLimited):
        resolver_.client(access, remaining_time_ms=lambda: 5_000).me()  # 1 s wait + a 10 s call do not fit
    assert len(responses.calls) == 1


# --- a PAT Asana refused ---------------------------------------------------------------------------------------------


def test_a_refused_pat_stops_acting_and_the_oauth_connection_takes_over(aws):
    save(WITH_PAT)
    connect_organization(now=time.time())
    resolver_ = resolver()

    resolver_.record_rejection(resolver_.resolve(MEMBER, URLS), "org-a")
    after = resolver_.resolve(MEMBER, URLS)

    assert (after.mode, after.pat_rejected) == ("oauth", True)


def test_a_refusal_of_a_replaced_pat_leaves_the_new_one_acting(aws):
    save(WITH_PAT)
    resolver_ = resolver()
    old_access = resolver_.resolve(MEMBER, URLS)
    save(OrgCredentials(client_id="client-1", client_secret="client-secret-1", pat="2/1201/pat-token-0002"))

    resolver_.record_rejection(old_access, "org-a")  # a 401 to a call made with the old PAT, answered after the save
    after = resolver_.resolve(MEMBER, URLS)

    assert (after.mode, after.pat_rejected, after.can_act) == ("pat", False, True)
    assert after.token_source.access_token() == "2/1201/pat-token-0002"


def test_a_refusal_answered_after_a_disconnect_records_nothing(aws):
    save(WITH_PAT)
    resolver_ = resolver()
    access = resolver_.resolve(MEMBER, URLS)
    CredentialStore(get_config()).delete("org-a")

    resolver_.record_rejection(access, "org-a")  # the 401 of a call that raced the disconnect

    with pytest.raises(ConnectionRequired) as required:
        resolver_.resolve(MEMBER, URLS)
    assert required.value.code == "not_configured"


def test_an_oauth_tokens_refusal_marks_no_pat(aws):
    save(APP)
    connect_organization(now=time.time())
    resolver_ = resolver()
    access = resolver_.resolve(MEMBER, URLS)
    save(WITH_PAT)  # a PAT saved meanwhile must not be taken for the refused identity

    resolver_.record_rejection(access, "org-a")

    assert resolver_.resolve(MEMBER, URLS).pat_rejected is False


# --- the reconnect link on a dead OAuth token -----------------------------------------------------------------------


def test_a_dead_pat_gets_no_reconnect_link(aws):
    save(WITH_PAT)
    resolver_ = resolver()
    access = resolver_.resolve(ADMIN, URLS)

    error = resolver_.with_reconnect_link(AsanaAuthenticationFailed(), access, ADMIN, URLS)

    assert error.connect_url is None, "a PAT is replaced by saving a new one, not by Connect"


def test_a_dead_oauth_token_gets_a_fresh_reconnect_link_for_an_admin_only(aws):
    save(APP)
    connect_organization()
    resolver_ = resolver()
    access = resolver_.resolve(ADMIN, URLS)

    for_admin = resolver_.with_reconnect_link(AsanaAuthenticationFailed(), access, ADMIN, URLS)
    for_member = resolver_.with_reconnect_link(AsanaAuthenticationFailed(), access, MEMBER, URLS)

    assert parse_qs(urlsplit(for_admin.connect_url).query)["redirect_uri"] == [URLS.redirect_uri]
    assert for_member.connect_url is None


def test_an_existing_reconnect_link_is_kept(aws):
    save(APP)
    connect_organization()
    resolver_ = resolver()
    access = resolver_.resolve(ADMIN, URLS)

    error = resolver_.with_reconnect_link(AsanaAuthenticationFailed(connect_url="https://kept"), access, ADMIN, URLS)

    assert error.connect_url == "https://kept"


def test_a_reconnect_link_that_cannot_be_made_leaves_the_real_error(aws):
    save(APP)
    connect_organization()
    resolver_ = resolver()
    access = resolver_.resolve(ADMIN, URLS)
    CredentialStore(get_config()).delete("org-a")  # Connect now refuses: nothing to connect to
    original = AsanaAuthenticationFailed()

    error = resolver_.with_reconnect_link(original, access, ADMIN, URLS)

    assert error is original
    assert error.connect_url is None
