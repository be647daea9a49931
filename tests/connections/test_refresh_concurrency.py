import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from apps.connections import services, tasks
from apps.connections.models import Connection
from tests.factories import ConnectionFactory, ConnectorConfigFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _expired_connection(application, customer, provider, access="at-old") -> Connection:
    connection = ConnectionFactory(
        application=application, customer=customer, provider=provider, is_authentication_pending=False
    )
    connection.credentials = {"access_token": access, "refresh_token": "rt-old"}
    connection.credentials_expires_at = connection.refresh_due_at = timezone.now() - timedelta(seconds=1)
    connection.status = Connection.Status.HEALTHY
    connection.save()
    return connection


def test_concurrent_readers_cause_exactly_one_token_request(fake_provider, oauth_provider, application, customer):
    ConnectorConfigFactory(application=application, provider=oauth_provider)
    connection = _expired_connection(application, customer, oauth_provider)
    fake_provider.on(
        "POST",
        "/token",
        body={"access_token": "at-new", "refresh_token": "rt-new", "token_type": "bearer", "expires_in": 3600},
        delay=0.3,
    )
    results, errors = [], []
    barrier = threading.Barrier(8)

    def reader():
        try:
            barrier.wait()
            fresh = services.connection_with_fresh_credentials(
                connection=Connection.objects.select_related("provider").get(pk=connection.pk), policy="auto"
            )
            results.append(fresh.credentials["access_token"])
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(fake_provider.calls("/token")) == 1
    assert results == ["at-new"] * 8
    assert Connection.objects.get(pk=connection.pk).credentials["refresh_token"] == "rt-new"


def test_sweep_refreshes_every_expiring_connection_once(fake_provider, oauth_provider, application, customer):
    ConnectorConfigFactory(application=application, provider=oauth_provider)
    expiring = [_expired_connection(application, customer, oauth_provider, access=f"old-{i}") for i in range(5)]
    fresh = _expired_connection(application, customer, oauth_provider)
    later = timezone.now() + timedelta(hours=2)
    Connection.objects.filter(pk=fresh.pk).update(credentials_expires_at=later, refresh_due_at=later)
    fake_provider.on("POST", "/token", body={"access_token": "swept", "token_type": "bearer", "expires_in": 3600})
    assert tasks.refresh_expiring_credentials() == 5
    assert len(fake_provider.calls("/token")) == 5
    for connection in expiring:
        assert Connection.objects.get(pk=connection.pk).credentials["access_token"] == "swept"
    assert Connection.objects.get(pk=fresh.pk).credentials["access_token"] == "at-old"
