"""The token lifecycle against the Asana sandbox (real HTTP on loopback) and DynamoDB/KMS.

Connections are made through the real flow (``start_connect`` → the sandbox's consent → ``check_redirect`` →
``complete``), then driven through the REST client, as the functions use them.

About concurrency and moto: moto's in-process DynamoDB is *not* atomic under threads — a conditional write checks and
then writes without a lock, so two threads can both "win" (measured: 4 of 30 rounds of 20 racing conditional puts had
several winners). The 20-caller test therefore runs moto as a real server that handles one request at a time, over
HTTP/1.0 so no client can hold the connection. That is exactly DynamoDB's guarantee for one item (writes are
serialised and each condition is evaluated against the latest state), while the 20 callers still race for real: each
is a thread with its own clients and token source, as separate Lambdas would be.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from werkzeug.serving import make_server

from asana_integration.asana.client import AsanaClient
from asana_integration.config import get_config
from asana_integration.connections.service import ConnectionService
from asana_integration.errors import SEED_AUTH_FAILED, AsanaAuthenticationFailed, AsanaUnavailable
from asana_integration.identity import Caller
from asana_integration.models.connections import ConnectionKey, Purpose, Status
from asana_integration.models.credentials import OrgCredentials
from asana_integration.settings.access import OrganizationAccessResolver
from asana_integration.stores.connections import ConnectionStore
from asana_integration.stores.credentials import CredentialStore
from asana_integration.stores.field_crypto import TokenCipher
from asana_integration.tenant_urls import TenantUrls
from local.asana_sandbox import demo
from tests import log_audit
from tests.aws import create_resources
from tests.conftest import integration_env

URLS = TenantUrls(base_url="https://expand.securedb.io")
ADMIN = Caller(org_id="org-a", user_id="admin-a", is_admin=True)
ORG_KEY = ConnectionKey.organization("org-a")
REFRESH = "refresh_token"


class Clock:
    """Our side's clock; the sandbox has its own (``advance_clock``). Tests move both to simulate time passing."""

    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def register_tenant_redirects(sandbox) -> None:
    for uri in URLS.redirect_uris:
        sandbox.add_redirect_uri(demo.DEMO_APP_CLIENT_ID, uri)


def save_demo_credentials(org_id: str = "org-a") -> OrgCredentials:
    credentials = OrgCredentials(client_id=demo.DEMO_APP_CLIENT_ID, client_secret=demo.DEMO_APP_CLIENT_SECRET)
    CredentialStore(get_config()).save(org_id, credentials)
    return credentials


def approve(sandbox, connect_url: str, user_gid: str = demo.DEMO_ADMIN_USER_GID) -> tuple[dict[str, str], str]:
    """What the browser does on the consent page: approve, and follow Asana's redirect back (not fetched)."""
    params = {k: v[0] for k, v in parse_qs(urlsplit(connect_url).query).items()}
    answer = requests.post(
        f"{sandbox.oauth_base_url}/oauth_authorize",
        data={**params, "decision": "approve", "user_gid": user_gid},
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code == 302, answer.text
    location = urlsplit(answer.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    log_audit.remember(query.get("code"), query.get("state"))
    return query, f"{location.scheme}://{location.netloc}{location.path}"


def connect(service: ConnectionService, sandbox, caller: Caller = ADMIN, purpose: Purpose = Purpose.ORGANIZATION):
    """Connect, approve, Asana's redirect checked, then finished by the same user's session."""
    query, callback_url = approve(sandbox, service.start_connect(caller, purpose, URLS))
    checked, _location = service.check_redirect(query, callback_url)
    assert checked.code == "awaiting_completion", checked
    outcome = service.complete(caller, state=query["state"], code=query["code"], completion_key=None)
    assert outcome.code == "connected", outcome
    return outcome


def service_for(clock: Clock | None = None) -> ConnectionService:
    config = get_config()
    return ConnectionService(config, clock=clock or Clock())


def raw_store(clock: Clock | None = None) -> ConnectionStore:
    config = get_config()
    table = boto3.resource("dynamodb").Table(config.table_name)
    return ConnectionStore(table, TokenCipher(boto3.client("kms"), config.kms_key_id), clock=clock or Clock())


def stored_tokens(store: ConnectionStore) -> tuple[str, str]:
    record = store.get(ORG_KEY)
    assert record is not None
    return store.access_token(record), store.refresh_token(record)


def org_source(service: ConnectionService, credentials: OrgCredentials, **kwargs):
    found = service.organization_token_source("org-a", credentials, **kwargs)
    assert found is not None
    return found


def unauthorized_calls(sandbox) -> int:
    return sum(1 for r in sandbox.requests() if r.path.startswith("/api/1.0") and r.status == 401)


@pytest.fixture
def connected(aws_with_sandbox, sandbox, clock):
    register_tenant_redirects(sandbox)
    credentials = save_demo_credentials()
    service = service_for(clock)
    connect(service, sandbox)
    sandbox.reset()  # counters only: issued tokens stay
    return service, credentials


# --- refresh ahead of expiry and after a 401 ------------------------------------------------------------------------


def test_a_token_close_to_expiry_is_refreshed_before_use_without_any_401(connected, sandbox, clock):
    service, credentials = connected
    store = raw_store(clock)
    access_before, refresh_before = stored_tokens(store)
    clock.advance(3600 - 60)
    sandbox.advance_clock(3600 - 60)

    source, _ = org_source(service, credentials)
    me = AsanaClient(source, get_config()).me()

    assert me["gid"] == demo.DEMO_ADMIN_USER_GID
    assert sandbox.grant_count(REFRESH) == 1
    assert unauthorized_calls(sandbox) == 0
    access_after, refresh_after = stored_tokens(store)
    assert access_after != access_before
    # Asana's refresh answer carries no refresh token: the stored one is kept, not dropped.
    assert refresh_after == refresh_before


def test_an_expired_token_is_refreshed_after_the_401_and_the_call_succeeds(connected, sandbox):
    service, credentials = connected
    sandbox.expire_access_tokens()  # expired at Asana while our record still says it is fresh

    source, _ = org_source(service, credentials)
    me = AsanaClient(source, get_config()).me()

    assert me["gid"] == demo.DEMO_ADMIN_USER_GID
    assert unauthorized_calls(sandbox) == 1
    assert sandbox.grant_count(REFRESH) == 1


def test_a_fresh_token_and_the_status_come_from_one_read_of_the_item(connected, monkeypatch):
    service, credentials = connected
    reads: list[ConnectionKey] = []
    get = ConnectionStore.get

    def counting_get(store: ConnectionStore, key: ConnectionKey):
        reads.append(key)
        return get(store, key)

    monkeypatch.setattr(ConnectionStore, "get", counting_get)

    source, info = org_source(service, credentials)
    assert info.status == "connected"
    assert source.access_token()
    assert source.access_token()

    assert reads == [ORG_KEY]


def test_the_kept_refresh_token_keeps_working_for_later_refreshes(connected, sandbox, clock):
    service, credentials = connected
    for _ in range(3):
        clock.advance(3600)
        sandbox.advance_clock(3600)
        source, _ = org_source(service, credentials)
        AsanaClient(source, get_config()).me()

    assert sandbox.grant_count(REFRESH) == 3


def test_a_rotated_refresh_token_replaces_the_stored_one(connected, sandbox, clock):
    service, credentials = connected
    store = raw_store(clock)
    _, refresh_before = stored_tokens(store)
    sandbox.set_refresh_token_rotation(True)
    clock.advance(3600)
    sandbox.advance_clock(3600)

    source, _ = org_source(service, credentials)
    source.access_token()

    _, refresh_after = stored_tokens(store)
    assert refresh_after != refresh_before
    log_audit.remember(refresh_after)


def test_short_lived_tokens_do_not_refresh_on_every_call(aws_with_sandbox, sandbox, clock):
    register_tenant_redirects(sandbox)
    credentials = save_demo_credentials()
    sandbox.set_access_token_ttl(60)  # shorter than the 5-minute margin
    service = service_for(clock)
    connect(service, sandbox)

    source, _ = org_source(service, credentials)
    tokens = {source.access_token() for _ in range(5)}
    fresh_source, _ = org_source(service, credentials)
    tokens.add(fresh_source.access_token())

    assert len(tokens) == 1
    assert sandbox.grant_count(REFRESH) == 0


@pytest.mark.parametrize(
    ("ttl", "seconds_left", "refreshed"),
    [
        (3600, 301, False),  # the 5-minute margin has not begun
        (3600, 300, True),  # it begins: renewed before use
        (61, 30.25, False),  # a token shorter than twice the margin: half its lifetime in whole seconds (30 s)
        (61, 30, True),
    ],
)
@pytest.mark.usefixtures("aws_with_sandbox")
def test_a_token_is_renewed_from_the_second_its_margin_begins(sandbox, clock, ttl, seconds_left, refreshed):
    register_tenant_redirects(sandbox)
    credentials = save_demo_credentials()
    sandbox.set_access_token_ttl(ttl)
    clock.now = float(int(clock.now))  # whole seconds, as the store keeps them: the boundary falls on a reading
    service = service_for(clock)
    connect(service, sandbox)
    sandbox.reset()
    clock.advance(ttl - seconds_left)

    source, _ = org_source(service, credentials)
    source.access_token()

    assert sandbox.grant_count(REFRESH) == (1 if refreshed else 0)


# --- permanent and transient failures -------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["revoked_in_asana", "invalid_grant_switch"])
def test_a_dead_refresh_token_needs_reconnect_with_the_seeds_message_and_never_loops(connected, sandbox, clock, how):
    service, credentials = connected
    if how == "revoked_in_asana":
        sandbox.revoke_refresh_tokens()
    else:
        sandbox.fail_refreshes()
        sandbox.expire_access_tokens()
    clock.advance(3600)

    source, _ = org_source(service, credentials)
    with pytest.raises(AsanaAuthenticationFailed) as failure:
        AsanaClient(source, get_config()).me()

    assert failure.value.message == SEED_AUTH_FAILED
    # The token source does not know who is asking, so it never starts Connect itself (the service adds the link).
    assert failure.value.connect_url is None
    info = service.connection_info("org-a", Purpose.ORGANIZATION, "admin-a")
    assert info is not None
    assert info.status == "needs_reconnect"
    assert info.to_view().message == SEED_AUTH_FAILED
    assert sandbox.grant_count(REFRESH) == 1

    # Later calls (new invocations) fail at once: no refresh, no API call, no loop.
    requests_before = len(sandbox.requests())
    for _ in range(3):
        again, info = org_source(service, credentials)
        assert info.status == "needs_reconnect"
        with pytest.raises(AsanaAuthenticationFailed):
            AsanaClient(again, get_config()).me()
    assert len(sandbox.requests()) == requests_before


def test_the_access_resolver_attaches_a_fresh_reconnect_link_for_an_admin_only(connected, sandbox, clock):
    service, _ = connected
    sandbox.revoke_refresh_tokens()
    clock.advance(3600)
    resolver = OrganizationAccessResolver(get_config(), CredentialStore(get_config()), service)
    links = []
    for caller in (ADMIN, Caller(org_id="org-a", user_id="member-a", is_admin=False)):
        access = resolver.resolve(caller, URLS)
        with pytest.raises(AsanaAuthenticationFailed) as failure:
            AsanaClient(access.token_source, get_config()).me()
        links.append(resolver.with_reconnect_link(failure.value, access, caller, URLS).connect_url)

    admin_link, member_link = links
    assert admin_link is not None
    assert admin_link.startswith(f"{sandbox.oauth_base_url}/oauth_authorize?")
    assert parse_qs(urlsplit(admin_link).query)["redirect_uri"] == [URLS.redirect_uri]
    assert member_link is None, "only an admin may reconnect the organization"


def test_a_reconnect_after_needs_reconnect_makes_the_connection_usable_again(connected, sandbox, clock):
    service, credentials = connected
    sandbox.revoke_refresh_tokens()
    clock.advance(3600)
    source, _ = org_source(service, credentials)
    with pytest.raises(AsanaAuthenticationFailed):
        source.access_token()

    connect(service, sandbox)

    source, info = org_source(service, credentials)
    assert info.status == "connected"
    assert AsanaClient(source, get_config()).me()["gid"] == demo.DEMO_ADMIN_USER_GID


def test_a_transient_refresh_failure_surfaces_without_marking_and_cools_down(connected, sandbox, clock):
    service, credentials = connected
    clock.advance(3600)
    sandbox.advance_clock(3600)
    sandbox.inject_errors(count=1, status=503, path_prefix="/-/oauth_token")

    source, _ = org_source(service, credentials)
    with pytest.raises(AsanaUnavailable):
        source.access_token()

    record = raw_store(clock).get(ORG_KEY)
    assert record is not None
    assert record.status is Status.ACTIVE
    assert record.lease_owner is None, "the lease must be released after a failure"
    # Within the cooldown nobody hammers Asana's token endpoint again.
    with pytest.raises(AsanaUnavailable) as cooling:
        org_source(service, credentials)[0].access_token()
    assert cooling.value.code == "token_refresh_cooling_down"
    assert sandbox.grant_count(REFRESH) == 1

    clock.now = float(record.refresh_retry_after)  # the cooldown's last second has passed: the next call tries again
    assert org_source(service, credentials)[0].access_token()
    assert sandbox.grant_count(REFRESH) == 2


# --- disconnect -----------------------------------------------------------------------------------------------------


def test_a_reconnect_racing_a_disconnect_leaves_no_grant_alive(connected, sandbox, monkeypatch):
    service, _ = connected
    get = ConnectionStore.get

    def get_then_reconnect(store: ConnectionStore, key: ConnectionKey):
        record = get(store, key)
        monkeypatch.setattr(ConnectionStore, "get", get)
        connect(service, sandbox)  # lands between the disconnect's read and its delete
        return record

    monkeypatch.setattr(ConnectionStore, "get", get_then_reconnect)

    assert service.disconnect(ADMIN, Purpose.ORGANIZATION) == "revoked"

    assert raw_store().get(ORG_KEY) is None
    assert sandbox.state.store.live_refresh_tokens(client_id=demo.DEMO_APP_CLIENT_ID) == []


# --- the lease ------------------------------------------------------------------------------------------------------


def test_waiters_give_up_in_bounded_time_while_a_live_lease_is_held(connected, sandbox, clock):
    service, credentials = connected
    clock.advance(3600)
    store = raw_store(clock)
    assert store.acquire_lease(ORG_KEY, "another-lambda", lease_seconds=30)

    remaining = [6000]  # ms; the source keeps a 3 s reserve, so it may wait ~3 s of this fake time

    def sleep(seconds: float) -> None:
        clock.advance(seconds)
        remaining[0] -= int(seconds * 1000)

    source = service.token_source(ORG_KEY, credentials, remaining_time_ms=lambda: remaining[0])
    assert source is not None
    source[0]._sleep = sleep  # fake time instead of real sleeping
    with pytest.raises(AsanaUnavailable) as waited:
        source[0].access_token()

    assert waited.value.code == "token_refresh_in_progress"
    assert "renewing the Asana token" in waited.value.message  # says what it waited for
    assert "Try again" in waited.value.fix
    assert waited.value.retry_after == 5
    assert sandbox.grant_count(REFRESH) == 0


def test_an_abandoned_lease_is_taken_over_once_it_expires(connected, sandbox, clock):
    service, credentials = connected
    clock.advance(3600)
    sandbox.advance_clock(3600)
    assert raw_store(clock).acquire_lease(ORG_KEY, "a-lambda-that-died", lease_seconds=30)
    clock.advance(31)

    source, _ = org_source(service, credentials)

    assert source.access_token()
    assert sandbox.grant_count(REFRESH) == 1
    assert raw_store(clock).get(ORG_KEY).lease_owner is None


def test_after_taking_the_lease_a_refresh_done_meanwhile_is_reused_not_repeated(connected, sandbox, clock, monkeypatch):
    """Between our read (token expired) and our lease, another Lambda refreshed: the re-read must notice."""
    service, credentials = connected
    clock.advance(3600)
    sandbox.advance_clock(3600)
    other, _ = org_source(service, credentials)
    late, _ = org_source(service, credentials)
    original_acquire = ConnectionStore.acquire_lease

    def acquire_after_someone_else_refreshed(self, key, owner, lease_seconds):
        monkeypatch.setattr(ConnectionStore, "acquire_lease", original_acquire)
        other.access_token()  # the other Lambda wins the race and refreshes
        return original_acquire(self, key, owner, lease_seconds)

    monkeypatch.setattr(ConnectionStore, "acquire_lease", acquire_after_someone_else_refreshed)

    assert late.access_token() == other.access_token()
    assert sandbox.grant_count(REFRESH) == 1


# --- 20 concurrent callers ------------------------------------------------------------------------------------------


@pytest.fixture
def serialized_aws(monkeypatch) -> Iterator[None]:
    """moto as a server handling one request at a time (see the module docstring)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

    class OneRequestPerConnection(MotoRequestHandler):
        protocol_version = "HTTP/1.0"

    server = make_server(
        "127.0.0.1",
        0,
        DomainDispatcherApplication(create_backend_app),
        threaded=False,
        request_handler=OneRequestPerConnection,
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    # moto's backends are process-wide: start from, and leave, an empty account.
    requests.post(f"{endpoint}/moto-api/reset", timeout=5)
    try:
        yield
    finally:
        requests.post(f"{endpoint}/moto-api/reset", timeout=5)
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_serialized_moto_makes_conditional_writes_atomic(serialized_aws):
    """Guards the harness: 20 racing conditional puts on one item must have exactly one winner."""
    resources = create_resources("race-check")
    barrier = threading.Barrier(20)
    winners = []

    def put(i: int) -> None:
        table = boto3.session.Session().resource("dynamodb").Table(resources.table_name)
        barrier.wait()
        try:
            table.put_item(Item={"pk": "x", "sk": "y", "n": i}, ConditionExpression="attribute_not_exists(pk)")
            winners.append(i)
        except table.meta.client.exceptions.ConditionalCheckFailedException:
            pass

    threads = [threading.Thread(target=put, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1


@pytest.mark.parametrize("expired_where", ["in_our_record", "only_at_asana"])
def test_twenty_concurrent_callers_holding_an_expired_token_cause_exactly_one_refresh(
    serialized_aws, sandbox, monkeypatch, clock, expired_where
):
    resources = create_resources()
    integration_env(monkeypatch, resources, api_base_url=sandbox.api_base_url, oauth_base_url=sandbox.oauth_base_url)
    register_tenant_redirects(sandbox)
    credentials = save_demo_credentials()
    connect(service_for(clock), sandbox)
    sandbox.expire_access_tokens()
    if expired_where == "in_our_record":
        clock.advance(3600)  # each caller refreshes ahead of use
    # else: our record says "fresh": each caller gets a 401 and renews after the rejection
    sandbox.reset()

    callers = 20
    barrier = threading.Barrier(callers)
    results: list[str] = []
    errors: list[BaseException] = []

    def one_lambda() -> None:
        try:
            # Its own boto3 session, clients, HTTP session and token source: a separate execution environment.
            session = boto3.session.Session()
            config = get_config()
            service = ConnectionService(
                config,
                credentials=CredentialStore(config, session.client("secretsmanager")),
                dynamodb_table=session.resource("dynamodb").Table(config.table_name),
                kms_client=session.client("kms"),
                clock=clock,
            )
            source, _ = org_source(service, credentials)
            barrier.wait()
            results.append(AsanaClient(source, config).me()["gid"])
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=one_lambda) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors[:3]
    assert results == [demo.DEMO_ADMIN_USER_GID] * callers
    assert sandbox.grant_count(REFRESH) == 1
