"""Refresh under concurrency, failure and interruption: single flight, the due rule, terminal errors."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.connect.links import authorization_url
from apps.connections import services, tasks
from apps.connections.exceptions import (
    CredentialsExpired,
    ProviderRejectedCode,
    ProviderUnavailable,
    RefreshInProgress,
    RefreshInterrupted,
)
from apps.connections.models import Connection
from apps.webhooks.models import WebhookDelivery
from tests.connections.conftest import make_provider
from tests.factories import ConnectionFactory, ConnectorConfigFactory
from tests.provider_server import Recorded, RotatingTokenEndpoint

pytestmark = pytest.mark.django_db(transaction=True)


def _connection(application, customer, provider, *, expires_in: timedelta, lifetime=timedelta(hours=1)) -> Connection:
    """A connection whose token was issued `lifetime` before it expires, `expires_in` from now."""
    now = timezone.now()
    connection = ConnectionFactory(
        application=application,
        customer=customer,
        provider=provider,
        is_authentication_pending=False,
        status=Connection.Status.HEALTHY,
        credentials={"access_token": "at-0", "refresh_token": "rt-0"},
        credentials_expires_at=now + expires_in,
        last_refreshed_at=now + expires_in - lifetime,
    )
    Connection.objects.filter(pk=connection.pk).update(
        refresh_due_at=now + expires_in - services.refresh_margin(lifetime)
    )
    return Connection.objects.get(pk=connection.pk)


def _in_threads(count: int, work) -> list:
    """Run work(i) in `count` threads released together; return results (exceptions included)."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - the test inspects what each caller got
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.fixture
def rotating(fake_provider):
    endpoint = RotatingTokenEndpoint(current="rt-0")
    fake_provider.on("POST", "/token", body=endpoint, delay=0.4)
    return endpoint


@pytest.fixture
def rotating_provider(fake_provider, application):
    provider = make_provider(
        "rotating-crm",
        fake_provider.url,
        oauth={"token_quirks": {"refresh_token_rotates": True, "refresh_token_reuse_seconds": 30}},
    )
    ConnectorConfigFactory(application=application, provider=provider)
    return provider


def test_force_and_auto_readers_join_one_refresh(application, customer, rotating_provider, rotating):
    """`force` joins the refresh in flight instead of starting a second (rotation would lose the row)."""
    connection = _connection(application, customer, rotating_provider, expires_in=timedelta(seconds=-1))

    def read(i):
        row = Connection.objects.select_related("provider").get(pk=connection.pk)
        policy = "force" if i % 2 else "auto"
        return services.connection_with_fresh_credentials(connection=row, policy=policy).credentials["access_token"]

    results = _in_threads(10, read)
    assert results == ["at-1"] * 10
    assert rotating.grants == 1
    stored = Connection.objects.get(pk=connection.pk)
    assert stored.credentials["refresh_token"] == "rt-1" and stored.status == Connection.Status.HEALTHY


def test_a_waiting_reader_gives_up_after_the_stated_bound(application, customer, rotating_provider, fake_provider):
    endpoint = RotatingTokenEndpoint(current="rt-0")
    fake_provider.on("POST", "/token", body=endpoint, delay=2.0)
    connection = _connection(application, customer, rotating_provider, expires_in=timedelta(seconds=-1))
    holder = threading.Thread(
        target=lambda: (services.connection_refresh_credentials(connection_id=connection.pk), connections.close_all())
    )
    holder.start()
    while not Connection.objects.filter(pk=connection.pk, refresh_lease_until__isnull=False).exists():
        time.sleep(0.02)
    started = time.monotonic()
    with pytest.raises(RefreshInProgress) as raised:
        services.connection_refresh_credentials(connection_id=connection.pk, force=True, wait_seconds=0.5)
    assert time.monotonic() - started < 1.5
    assert raised.value.retry_after >= 1
    holder.join()
    assert endpoint.grants == 1


def test_refresh_margin_scales_with_the_token_lifetime():
    assert services.refresh_margin(timedelta(hours=1)) == timedelta(minutes=5)
    assert services.refresh_margin(timedelta(minutes=5)) == timedelta(seconds=75)
    assert services.refresh_margin(timedelta(seconds=20)) == timedelta(seconds=5)


def test_a_token_refreshed_by_a_read_is_not_refreshed_again_by_the_queued_sweep_task(
    application, customer, rotating_provider, rotating
):
    """The sweep picked the row; a read refreshed it first; the sweep's task must not refresh it again."""
    rotating.expires_in = 300  # the sandbox's five-minute tokens
    connection = _connection(
        application, customer, rotating_provider, expires_in=timedelta(seconds=30), lifetime=timedelta(minutes=5)
    )
    swept = list(services.Connection.objects.filter(pk=connection.pk).values_list("pk", flat=True))
    assert list(tasks.connection_ids_needing_refresh(now=timezone.now())) == swept
    services.connection_with_fresh_credentials(connection=connection, policy="auto")
    for connection_id in swept:
        tasks.refresh_connection_credentials(connection_id)
    assert list(tasks.connection_ids_needing_refresh(now=timezone.now() + timedelta(minutes=3))) == []
    assert rotating.grants == 1


def test_short_lived_tokens_are_not_refreshed_on_every_read(application, customer, rotating_provider, fake_provider):
    endpoint = RotatingTokenEndpoint(current="rt-0", expires_in=20)
    fake_provider.on("POST", "/token", body=endpoint)
    connection = _connection(
        application, customer, rotating_provider, expires_in=timedelta(seconds=-1), lifetime=timedelta(seconds=20)
    )
    for _ in range(20):
        row = Connection.objects.select_related("provider").get(pk=connection.pk)
        services.connection_with_fresh_credentials(connection=row, policy="auto")
    assert endpoint.grants == 1


def test_a_failed_refresh_is_an_error_and_an_expired_token_is_not_handed_out(
    application, customer, rotating_provider, fake_provider
):
    fake_provider.on("POST", "/token", status=401, body={"error": "invalid_client"})
    connection = _connection(application, customer, rotating_provider, expires_in=timedelta(minutes=-2))
    with pytest.raises(CredentialsExpired):
        services.connection_with_fresh_credentials(connection=connection, policy="auto", require_valid=True)
    stored = Connection.objects.get(pk=connection.pk)
    assert stored.status == Connection.Status.ERROR and stored.health_status_code == ProviderRejectedCode.code
    assert stored.refresh_due_at > timezone.now() + timedelta(seconds=10)  # backs off instead of hammering
    with pytest.raises(CredentialsExpired):  # a second read inside the backoff does not call the provider
        services.connection_with_fresh_credentials(connection=stored, policy="auto", require_valid=True)
    assert len(fake_provider.calls("/token")) == 1


def test_retry_after_is_honoured_and_recovery_clears_the_error(application, customer, rotating_provider, fake_provider):
    fake_provider.on("POST", "/token", status=429, body={}, headers={"Retry-After": "120"})
    connection = _connection(application, customer, rotating_provider, expires_in=timedelta(seconds=-1))
    with pytest.raises(ProviderUnavailable):
        services.connection_refresh_credentials(connection_id=connection.pk)
    stored = Connection.objects.get(pk=connection.pk)
    assert stored.refresh_due_at >= timezone.now() + timedelta(seconds=115)
    assert stored.status == Connection.Status.ERROR
    fake_provider.on("POST", "/token", body=RotatingTokenEndpoint(current="rt-0"))
    services.connection_refresh_credentials(connection_id=connection.pk, force=True)
    recovered = Connection.objects.get(pk=connection.pk)
    assert recovered.status == Connection.Status.HEALTHY and recovered.health_status_code == "healthy"


def test_a_timed_out_refresh_is_resent_with_the_same_token_inside_the_reuse_grace(
    application, customer, rotating_provider, fake_provider, settings
):
    """The provider rotated but the answer never arrived: resending the old token inside the grace works."""
    settings.PATCHBAY_PROVIDER_TIMEOUT_SECONDS = 0.5
    endpoint = RotatingTokenEndpoint(current="rt-0", reuse_seconds=30)
    fake_provider.on("POST", "/token", body=endpoint, delay=1.0)
    connection = _connection(application, customer, rotating_provider, expires_in=timedelta(seconds=-1))
    with pytest.raises(ProviderUnavailable):
        services.connection_refresh_credentials(connection_id=connection.pk)
    interrupted = Connection.objects.get(pk=connection.pk)
    assert interrupted.refresh_started_at is not None and interrupted.refresh_due_at <= timezone.now()
    time.sleep(0.7)  # the orphaned request has been processed: the provider rotated rt-0
    fake_provider.on("POST", "/token", body=endpoint)
    services.connection_refresh_credentials(connection_id=connection.pk)
    stored = Connection.objects.get(pk=connection.pk)
    assert [call.form["refresh_token"] for call in fake_provider.calls("/token")] == ["rt-0", "rt-0"]
    assert stored.credentials["refresh_token"] == "rt-1" and stored.status == Connection.Status.HEALTHY
    assert stored.refresh_started_at is None


def test_without_a_reuse_grace_an_interrupted_refresh_says_so_once(application, customer, fake_provider, settings):
    settings.PATCHBAY_PROVIDER_TIMEOUT_SECONDS = 0.5
    application.webhook_url = "https://hooks.acme.test/patchbay"
    application.save()
    provider = make_provider("strict-crm", fake_provider.url, oauth={"token_quirks": {"refresh_token_rotates": True}})
    ConnectorConfigFactory(application=application, provider=provider)
    fake_provider.on("POST", "/token", body=RotatingTokenEndpoint(current="rt-0"), delay=1.0)
    connection = _connection(application, customer, provider, expires_in=timedelta(seconds=-1))
    with pytest.raises(ProviderUnavailable):
        services.connection_refresh_credentials(connection_id=connection.pk)
    with pytest.raises(RefreshInterrupted):
        services.connection_refresh_credentials(connection_id=connection.pk)
    for _ in range(3):
        row = Connection.objects.get(pk=connection.pk)
        services.connection_with_fresh_credentials(connection=row, policy="auto")
        tasks.refresh_expiring_credentials()
    stored = Connection.objects.get(pk=connection.pk)
    assert len(fake_provider.calls("/token")) == 1
    assert stored.status == Connection.Status.DISCONNECTED and stored.health_status_code == "refresh_interrupted"
    assert stored.is_authentication_pending and authorization_url(stored)
    assert WebhookDelivery.objects.filter(event_type="connection.disconnected").count() == 1
    assert AuditEvent.objects.filter(action="connection.refresh_interrupted").count() == 1


def test_idle_refresh_tokens_are_kept_alive_spread_over_the_window(application, customer, fake_provider):
    provider = make_provider("idle-crm", fake_provider.url, oauth={"token_quirks": {"refresh_token_idle_days": 90}})
    ConnectorConfigFactory(application=application, provider=provider)
    fake_provider.on("POST", "/token", body=RotatingTokenEndpoint(current="rt-0", expires_in=0))
    now = timezone.now()
    dues = []
    for _ in range(20):
        connection = _connection(application, customer, provider, expires_in=timedelta(seconds=-1))
        Connection.objects.filter(pk=connection.pk).update(credentials_expires_at=None)
        services.connection_refresh_credentials(connection_id=connection.pk, force=True)
        fake_provider.on("POST", "/token", body=RotatingTokenEndpoint(current="rt-0", expires_in=0))
        dues.append(Connection.objects.get(pk=connection.pk).refresh_due_at - now)
    assert all(timedelta(days=45) <= due <= timedelta(days=67.5) + timedelta(minutes=1) for due in dues)
    assert len({due.days for due in dues}) > 3  # spread out, not all on one day
    later = timezone.now() + timedelta(days=68)
    assert len(tasks.connection_ids_needing_refresh(now=later)) == 20


def test_a_lease_left_by_a_dead_refresher_runs_out_and_the_refresh_is_resent(
    application, customer, rotating_provider, fake_provider
):
    """A process died holding the lease after sending: once the lease has run out, the next caller resends."""
    endpoint = RotatingTokenEndpoint(current="rt-0", reuse_seconds=30)
    fake_provider.on("POST", "/token", body=endpoint)
    connection = _connection(application, customer, rotating_provider, expires_in=timedelta(seconds=-1))
    endpoint(Recorded("POST", "/token", {}, {"refresh_token": "rt-0"}, b""))  # the dead process's request
    now = timezone.now()
    Connection.objects.filter(pk=connection.pk).update(
        refresh_lease_until=now - timedelta(seconds=1), refresh_started_at=now - timedelta(seconds=10)
    )
    services.connection_refresh_credentials(connection_id=connection.pk, wait_seconds=0)
    stored = Connection.objects.get(pk=connection.pk)
    assert stored.credentials["refresh_token"] == "rt-1" and stored.refresh_lease_until is None
    assert endpoint.grants == 1
