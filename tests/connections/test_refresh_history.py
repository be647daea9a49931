"""Every token request a refresh sends leaves one row of history (outcome, trigger, timing, safe error),
written in one INSERT per batch and never holding a token; rows older than the retention are purged."""

from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.connections import services, tasks
from apps.connections.exceptions import ProviderUnavailable
from apps.connections.models import Connection, RefreshEvent
from tests.connections.conftest import make_provider
from tests.connections.test_refresh_batch import due_connections, rotating_token
from tests.factories import ConnectionFactory, ConnectorConfigFactory
from tests.provider_server import Recorded, RotatingTokenEndpoint

pytestmark = pytest.mark.django_db(transaction=True)


def refresh_history_inserts(queries) -> list[str]:
    table = RefreshEvent._meta.db_table
    return [q["sql"] for q in queries if q["sql"].startswith("INSERT") and table in q["sql"]]


def test_a_batch_writes_its_whole_history_in_one_insert(fake_provider, oauth_provider, application, customer):
    ConnectorConfigFactory(application=application, provider=oauth_provider)
    rows = due_connections(application, customer, oauth_provider, 5)

    def refuse_the_second(request):
        if request.form["refresh_token"] == "rt-1":
            return {"error": "invalid_grant"}
        return rotating_token(request)

    fake_provider.on("POST", "/token", body=refuse_the_second)
    with CaptureQueriesContext(db_connection) as batch:
        assert services.connection_refresh_batch(connection_ids=[c.pk for c in rows]) == 5

    assert len(refresh_history_inserts(batch.captured_queries)) == 1
    outcomes = {e.connection_id: e for e in RefreshEvent.objects.all()}
    assert set(outcomes) == {c.pk for c in rows}
    revoked = outcomes[rows[1].pk]
    assert revoked.outcome == RefreshEvent.Outcome.REVOKED and revoked.error_code == "invalid_grant"
    assert all(e.outcome == RefreshEvent.Outcome.REFRESHED for pk, e in outcomes.items() if pk != rows[1].pk)
    assert all(
        e.trigger == RefreshEvent.Trigger.SWEEP and e.application_id == application.pk for e in outcomes.values()
    )
    assert all(e.started_at <= e.finished_at and e.duration_ms >= 0 for e in outcomes.values())


def test_a_failed_forced_refresh_is_recorded_with_its_safe_message_and_no_token(
    fake_provider, oauth_provider, application, customer
):
    ConnectorConfigFactory(application=application, provider=oauth_provider)
    (connection,) = due_connections(application, customer, oauth_provider, 1)
    fake_provider.on("POST", "/token", status=503, body={"error": "temporarily_unavailable", "access_token": "leak"})
    with pytest.raises(ProviderUnavailable):
        services.connection_refresh_credentials(connection_id=connection.pk, force=True)
    fake_provider.on("POST", "/token", body=rotating_token)
    services.connection_refresh_credentials(connection_id=connection.pk, force=True)

    refreshed, failed = RefreshEvent.objects.filter(connection=connection)
    assert (failed.outcome, failed.trigger, failed.error_code) == ("failed", "force", ProviderUnavailable.code)
    assert failed.message == ProviderUnavailable.message
    assert (refreshed.outcome, refreshed.trigger, refreshed.is_resend) == ("refreshed", "force", False)
    stored = Connection.objects.get(pk=connection.pk).credentials
    row_text = str(list(RefreshEvent.objects.values()))
    assert "leak" not in row_text and stored["access_token"] not in row_text and "rt-0" not in row_text


def test_a_refresh_resent_after_a_lost_answer_is_marked_as_a_resend(application, customer, fake_provider):
    provider = make_provider(
        "grace-crm",
        fake_provider.url,
        oauth={"token_quirks": {"refresh_token_rotates": True, "refresh_token_reuse_seconds": 30}},
    )
    ConnectorConfigFactory(application=application, provider=provider)
    endpoint = RotatingTokenEndpoint(current="rt-0", reuse_seconds=30)
    fake_provider.on("POST", "/token", body=endpoint)
    (connection,) = due_connections(application, customer, provider, 1)
    endpoint(Recorded("POST", "/token", {}, {"refresh_token": "rt-0"}, b""))  # the lost request
    Connection.objects.filter(pk=connection.pk).update(refresh_started_at=timezone.now() - timedelta(seconds=5))

    tasks.refresh_connection_credentials(connection.pk)

    (event,) = RefreshEvent.objects.filter(connection=connection)
    assert (event.outcome, event.trigger, event.is_resend) == ("refreshed", "sweep", True)


def test_the_purge_deletes_history_older_than_the_retention_only(application, customer, oauth_provider, monkeypatch):
    monkeypatch.setattr(services, "REFRESH_EVENT_PURGE_BATCH_SIZE", 2)
    connection = ConnectionFactory(application=application, customer=customer, provider=oauth_provider)
    now = timezone.now()

    def event(age: timedelta) -> RefreshEvent:
        return RefreshEvent(
            application=application,
            connection=connection,
            started_at=now - age,
            finished_at=now - age,
            outcome=RefreshEvent.Outcome.REFRESHED,
            trigger=RefreshEvent.Trigger.SWEEP,
        )

    old = [event(services.REFRESH_EVENT_RETENTION + timedelta(hours=h)) for h in range(1, 6)]
    kept = [event(services.REFRESH_EVENT_RETENTION - timedelta(hours=1)), event(timedelta(0))]
    services.refresh_events_record(events=[*old, *kept])

    assert tasks.purge_old_refresh_events() == 5
    assert set(RefreshEvent.objects.values_list("pk", flat=True)) == {e.pk for e in kept}
