"""The sweep refreshes in batches: one statement claims a batch's leases, duplicates cost one statement,
rows a reader is refreshing are left to it, and failures are recorded as a single refresh records them."""

from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.connections import services, tasks
from apps.connections.models import Connection
from tests.factories import ConnectionFactory, ConnectorConfigFactory

pytestmark = pytest.mark.django_db(transaction=True)


def due_connections(application, customer, provider, count: int) -> list[Connection]:
    rows = []
    for n in range(count):
        connection = ConnectionFactory(
            application=application, customer=customer, provider=provider, is_authentication_pending=False
        )
        connection.credentials = {"access_token": f"at-{n}", "refresh_token": f"rt-{n}"}
        connection.credentials_expires_at = connection.refresh_due_at = timezone.now() - timedelta(seconds=1)
        connection.status = Connection.Status.HEALTHY
        connection.save()
        rows.append(connection)
    return rows


def rotating_token(request):
    return {
        "access_token": f"new-{request.form['refresh_token']}",
        "refresh_token": f"next-{request.form['refresh_token']}",
        "token_type": "bearer",
        "expires_in": 3600,
    }


def test_a_batch_refreshes_each_due_connection_once_and_a_duplicate_costs_one_statement(
    fake_provider, oauth_provider, application, customer
):
    ConnectorConfigFactory(application=application, provider=oauth_provider)
    rows = due_connections(application, customer, oauth_provider, 12)
    fake_provider.on("POST", "/token", body=rotating_token, delay=0.05)
    ids = [c.pk for c in rows]

    assert services.connection_refresh_batch(connection_ids=ids) == 12
    presented = sorted(call.form["refresh_token"] for call in fake_provider.calls("/token"))
    assert presented == sorted(f"rt-{n}" for n in range(12))
    for n, connection in enumerate(rows):
        stored = Connection.objects.get(pk=connection.pk)
        assert stored.credentials["refresh_token"] == f"next-rt-{n}"
        assert stored.refresh_lease_until is None and stored.refresh_due_at > timezone.now()

    with CaptureQueriesContext(db_connection) as duplicate:
        assert services.connection_refresh_batch(connection_ids=ids) == 0
    assert len(duplicate.captured_queries) == 1 and duplicate.captured_queries[0]["sql"].startswith("UPDATE")
    assert len(fake_provider.calls("/token")) == 12


def test_a_row_whose_lease_a_reader_holds_is_left_to_that_reader(fake_provider, oauth_provider, application, customer):
    ConnectorConfigFactory(application=application, provider=oauth_provider)
    held, free = due_connections(application, customer, oauth_provider, 2)
    Connection.objects.filter(pk=held.pk).update(refresh_lease_until=timezone.now() + timedelta(seconds=30))
    fake_provider.on("POST", "/token", body=rotating_token)

    assert services.connection_refresh_batch(connection_ids=[held.pk, free.pk]) == 1
    assert [call.form["refresh_token"] for call in fake_provider.calls("/token")] == ["rt-1"]
    assert Connection.objects.get(pk=held.pk).credentials["refresh_token"] == "rt-0"


def test_a_refused_refresh_in_a_batch_is_recorded_and_the_rest_go_on(
    fake_provider, oauth_provider, application, customer
):
    ConnectorConfigFactory(application=application, provider=oauth_provider)
    rows = due_connections(application, customer, oauth_provider, 3)

    def refuse_the_second(request):
        if request.form["refresh_token"] == "rt-1":
            return {"error": "invalid_grant"}
        return rotating_token(request)

    fake_provider.on("POST", "/token", body=refuse_the_second, status=200)
    assert services.connection_refresh_batch(connection_ids=[c.pk for c in rows]) == 3
    first, refused, third = (Connection.objects.get(pk=c.pk) for c in rows)
    assert first.credentials["refresh_token"] == "next-rt-0" and third.credentials["refresh_token"] == "next-rt-2"
    assert refused.status == Connection.Status.DISCONNECTED and refused.credentials is None


def test_the_sweep_hands_out_batches(fake_provider, oauth_provider, application, customer, monkeypatch):
    ConnectorConfigFactory(application=application, provider=oauth_provider)
    monkeypatch.setattr(services, "REFRESH_BATCH_SIZE", 2)
    rows = due_connections(application, customer, oauth_provider, 5)
    fake_provider.on("POST", "/token", body=rotating_token)
    assert tasks.refresh_expiring_credentials() == 5
    assert len(fake_provider.calls("/token")) == 5
    assert all(Connection.objects.get(pk=c.pk).last_refreshed_at is not None for c in rows)
