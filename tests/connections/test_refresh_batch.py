"""The sweep refreshes in batches: one statement claims a batch's leases and marks its requests started,
one writes its new tokens, duplicates cost one statement, rows a reader is refreshing are left to it, and
failures are recorded as a single refresh records them."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.db import connections as db_connections
from django.db import transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.catalog.models import ConnectorConfig
from apps.connections import services, tasks
from apps.connections.models import Connection
from apps.vault.crypto import DecryptionError
from apps.webhooks.models import WebhookDelivery
from tests.connections.conftest import make_provider
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


COMPARED_FIELDS = [
    "status",
    "health_status_code",
    "health_message",
    "scopes_granted",
    "refresh_failure_count",
    "refresh_lease_until",
    "refresh_started_at",
    "refresh_failed_at",
    "is_authentication_pending",
]


def _state(connection: Connection) -> dict:
    stored = Connection.objects.get(pk=connection.pk)
    credentials = dict(stored.credentials)
    return {
        **{name: getattr(stored, name) for name in COMPARED_FIELDS},
        "credentials": {key: value for key, value in credentials.items() if key != "expires_at"},
        "expires_in": round((stored.credentials_expires_at - timezone.now()).total_seconds(), -1),
        "due_in": round((stored.refresh_due_at - timezone.now()).total_seconds(), -1),
        "refreshed": stored.last_refreshed_at is not None
        and stored.last_refreshed_at > timezone.now() - timedelta(minutes=1),
        "modified": stored.modified_at > timezone.now() - timedelta(minutes=1),
    }


@pytest.mark.parametrize(
    "before",
    [
        {"status": Connection.Status.HEALTHY, "health_status_code": "healthy"},
        {
            "status": Connection.Status.ERROR,
            "health_status_code": "provider_unavailable",
            "refresh_failure_count": 2,
            "refresh_failed_at": timezone.now() - timedelta(minutes=5),
        },
    ],
    ids=["healthy", "recovering-from-a-failed-refresh"],
)
def test_a_batch_leaves_each_row_as_a_single_refresh_leaves_it(
    fake_provider, oauth_provider, application, customer, before
):
    """Same tokens in, same row out: credentials (decrypted through the vault), expiry, next due time,
    refresh state, health and webhooks, whether the row is written in bulk or, recovering, one by one."""
    application.webhook_url = "https://hooks.acme.test/patchbay"
    application.save()
    ConnectorConfigFactory(application=application, provider=oauth_provider)
    fake_provider.on("POST", "/token", body=rotating_token)
    single, batched = (due_connections(application, customer, oauth_provider, 1)[0] for _ in range(2))
    Connection.objects.filter(pk__in=[single.pk, batched.pk]).update(**before)

    services.connection_refresh_credentials(connection_id=single.pk)
    single_webhooks = WebhookDelivery.objects.count()
    assert services.connection_refresh_batch(connection_ids=[batched.pk]) == 1

    assert _state(batched) == _state(single)
    assert _state(batched)["credentials"]["refresh_token"] == "next-rt-0"
    assert WebhookDelivery.objects.count() == 2 * single_webhooks


def test_a_batch_runs_statements_per_requests_in_flight_not_per_row(
    fake_provider, oauth_provider, application, customer
):
    ConnectorConfigFactory(application=application, provider=oauth_provider)
    fake_provider.on("POST", "/token", body=rotating_token, delay=0.02)
    rows = due_connections(application, customer, oauth_provider, 40)
    with CaptureQueriesContext(db_connection) as batch:
        assert services.connection_refresh_batch(connection_ids=[c.pk for c in rows]) == 40

    statements = [q["sql"].lstrip().split(" ", 1)[0].upper() for q in batch.captured_queries]
    # one claim, then one "request started" mark each time REFRESH_BATCH_MARKED_AHEAD places are free
    marks_at_most = 40 // services.REFRESH_BATCH_MARKED_AHEAD
    assert 1 + 1 <= statements.count("UPDATE") <= 1 + marks_at_most
    assert statements.count("SELECT") <= 2, "providers and OAuth clients, for the whole batch"
    records = statements.count("WITH")
    assert records == statements.count("INSERT"), "each record: new tokens in one UPDATE, history in one INSERT"
    assert 1 <= records <= 1 + 40 // services.REFRESH_BATCH_RECORD_EVERY
    assert all(Connection.objects.get(pk=c.pk).credentials["refresh_token"].startswith("next-") for c in rows)


def test_every_request_of_a_batch_is_marked_started_on_its_row_just_before_it_is_sent(
    fake_provider, oauth_provider, application, customer
):
    """What makes an interrupted batch recoverable: a process killed after the provider answered leaves rows
    that say "outcome unknown", so the next claimer resends inside the reuse grace or gives up once; and
    only the requests really out say so (a provider without a grace cannot take a resend)."""
    ConnectorConfigFactory(application=application, provider=oauth_provider)
    rows = due_connections(application, customer, oauth_provider, 30)
    seen: list[tuple[bool, int]] = []

    def record_the_marks(request):
        index = int(request.form["refresh_token"].removeprefix("rt-"))
        marks = dict(Connection.objects.filter(pk__in=[c.pk for c in rows]).values_list("id", "refresh_started_at"))
        seen.append((marks[rows[index].pk] is not None, sum(mark is not None for mark in marks.values())))
        return rotating_token(request)

    fake_provider.on("POST", "/token", body=record_the_marks, delay=0.02)
    services.connection_refresh_batch(connection_ids=[c.pk for c in rows])

    assert len(seen) == 30 and all(marked for marked, _count in seen), "each row marked before its request"
    marked_when_the_first_arrived = seen[0][1]
    threads_and_queue = services.REFRESH_BATCH_CONCURRENCY + services.REFRESH_BATCH_MARKED_AHEAD
    assert marked_when_the_first_arrived <= threads_and_queue, "not the whole batch up front"
    assert all(Connection.objects.get(pk=c.pk).refresh_started_at is None for c in rows), "cleared once stored"


def test_a_batch_stores_answers_as_they_pile_up_not_only_at_its_end(
    fake_provider, oauth_provider, application, customer
):
    """A process killed late in a batch loses at most the answers since the last record, not the batch's."""
    ConnectorConfigFactory(application=application, provider=oauth_provider)
    rows = due_connections(application, customer, oauth_provider, 2 * services.REFRESH_BATCH_RECORD_EVERY)
    stored_when_a_request_arrived = []

    def count_the_stored(request):
        stored = Connection.objects.filter(pk__in=[c.pk for c in rows], last_refreshed_at__isnull=False).count()
        stored_when_a_request_arrived.append(stored)
        return rotating_token(request)

    fake_provider.on("POST", "/token", body=count_the_stored, delay=0.01)
    services.connection_refresh_batch(connection_ids=[c.pk for c in rows])

    assert max(stored_when_a_request_arrived) >= services.REFRESH_BATCH_RECORD_EVERY
    assert Connection.objects.filter(pk__in=[c.pk for c in rows], last_refreshed_at__isnull=False).count() == len(rows)


@pytest.mark.skipif(db_connection.vendor != "postgresql", reason="holds one row's lock, which SQLite does not have")
def test_threads_freed_while_a_batch_records_answers_send_the_next_rows(
    fake_provider, oauth_provider, application, customer, monkeypatch
):
    """The batch's own thread writes the answers; the sending threads do not wait for it. The provider
    answers each request after `latency`, so requests go out in waves; the first row's lock is held
    elsewhere, so the batch's first record (the first wave's answers) waits on PostgreSQL. Threads freed by
    the second wave's answers meanwhile send the rows queued for them: requests keep arriving during the
    wait, a wave after it began."""
    latency = 0.25
    monkeypatch.setattr(services, "REFRESH_BATCH_RECORD_EVERY", services.REFRESH_BATCH_CONCURRENCY)
    ConnectorConfigFactory(application=application, provider=oauth_provider)
    rows = due_connections(application, customer, oauth_provider, 4 * services.REFRESH_BATCH_CONCURRENCY)
    by_token = {c.credentials["refresh_token"]: c for c in rows}
    first_arrival, locked = threading.Lock(), threading.Event()
    arrivals: list[float] = []
    write_waited: list[float] = []  # when the batch's write began to wait on the lock, and when it was let go

    def hold_the_row_lock(connection_id: str) -> None:
        with transaction.atomic(), db_connection.cursor() as cursor:
            Connection.objects.select_for_update().filter(pk=connection_id).exists()
            locked.set()
            give_up_at = time.monotonic() + 10
            while time.monotonic() < give_up_at and len(write_waited) < 2:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
                a_write_waits = cursor.fetchone()[0] > 0
                if not write_waited:
                    if a_write_waits:
                        write_waited.append(time.monotonic())
                elif time.monotonic() > write_waited[0] + 2 * latency:
                    write_waited.append(time.monotonic())  # long enough: let it go
                time.sleep(0.01)
        db_connections.close_all()

    def lock_the_first_row_then_answer(request):
        with first_arrival:
            arrivals.append(time.monotonic())
            if len(arrivals) == 1:
                token = request.form["refresh_token"]
                threading.Thread(target=hold_the_row_lock, args=[by_token[token].pk]).start()
                locked.wait(timeout=5)
        time.sleep(latency)
        return rotating_token(request)

    fake_provider.on("POST", "/token", body=lock_the_first_row_then_answer)
    services.connection_refresh_batch(connection_ids=[c.pk for c in rows])

    assert len(write_waited) == 2, "the batch's first record did not wait on the held lock"
    wait_began, wait_ended = write_waited
    sent_while_waiting = [at for at in arrivals if wait_began + latency / 2 < at < wait_ended]
    assert sent_while_waiting, "no thread sent a queued row while the batch's write waited"
    assert Connection.objects.filter(pk__in=[c.pk for c in rows], last_refreshed_at__isnull=False).count() == len(rows)


def test_a_batch_whose_sending_fails_unexpectedly_raises_and_the_next_batch_still_sends(
    fake_provider, oauth_provider, application, customer
):
    """An OAuth client secret that no longer decrypts (its ciphertext moved to another row) fails in the
    sending thread: the batch raises that error instead of waiting forever for its answer, sends nothing
    more, and the process's sending threads serve the next batch."""
    broken = ConnectorConfigFactory(application=application, provider=oauth_provider)
    other_provider = make_provider("other-crm", fake_provider.url)
    working = ConnectorConfigFactory(application=application, provider=other_provider)
    ConnectorConfig.objects.filter(pk=broken.pk).update(
        client_secret=ConnectorConfig.objects.filter(pk=working.pk).values("client_secret")[:1]
    )
    stuck = due_connections(application, customer, oauth_provider, 3 * services.REFRESH_BATCH_CONCURRENCY)
    fine = due_connections(application, customer, other_provider, 3)
    fake_provider.on("POST", "/token", body=rotating_token)

    raised: list[Exception] = []

    def refresh_the_stuck_rows() -> None:
        try:
            services.connection_refresh_batch(connection_ids=[c.pk for c in stuck])
        except Exception as error:  # noqa: BLE001 - the test asserts which
            raised.append(error)
        finally:
            db_connections.close_all()

    batch = threading.Thread(target=refresh_the_stuck_rows, daemon=True)
    batch.start()
    batch.join(timeout=30)
    assert not batch.is_alive(), "the batch waits forever for an answer no thread will give"
    assert len(raised) == 1 and isinstance(raised[0], DecryptionError)

    assert services.connection_refresh_batch(connection_ids=[c.pk for c in fine]) == 3
    presented = sorted(call.form["refresh_token"] for call in fake_provider.calls("/token"))
    assert presented == ["rt-0", "rt-1", "rt-2"], "only the working rows were sent"
    assert all(Connection.objects.get(pk=c.pk).credentials["refresh_token"].startswith("next-") for c in fine)


def test_an_interrupted_refresh_found_by_a_batch_is_resent_inside_the_grace_or_given_up_once(
    fake_provider, application, customer
):
    rotating = make_provider(
        "rotating-graceful",
        fake_provider.url,
        oauth={"token_quirks": {"refresh_token_rotates": True, "refresh_token_reuse_seconds": 300}},
    )
    strict = make_provider(
        "rotating-strict", fake_provider.url, oauth={"token_quirks": {"refresh_token_rotates": True}}
    )
    for provider in (rotating, strict):
        ConnectorConfigFactory(application=application, provider=provider)
    (graceful_row,) = due_connections(application, customer, rotating, 1)
    (strict_row,) = due_connections(application, customer, strict, 1)
    # What a killed batch leaves: the request was marked started a minute ago and the answer never stored.
    Connection.objects.filter(pk__in=[graceful_row.pk, strict_row.pk]).update(
        refresh_started_at=timezone.now() - timedelta(minutes=1)
    )
    fake_provider.on("POST", "/token", body=rotating_token)

    assert services.connection_refresh_batch(connection_ids=[graceful_row.pk, strict_row.pk]) == 2
    assert [call.form["refresh_token"] for call in fake_provider.calls("/token")] == ["rt-0"]
    graceful, given_up = (Connection.objects.get(pk=c.pk) for c in (graceful_row, strict_row))
    assert graceful.credentials["refresh_token"] == "next-rt-0" and graceful.refresh_started_at is None
    assert given_up.status == Connection.Status.DISCONNECTED and given_up.health_status_code == "refresh_interrupted"
    assert AuditEvent.objects.filter(action="connection.refresh_interrupted", target_id=strict_row.pk).count() == 1


def test_a_resent_refresh_keeps_the_mark_of_the_request_whose_outcome_is_unknown(fake_provider, application, customer):
    """The grace counts from the first request: if the resend is lost too, the next claimer must not
    take it for a fresh one."""
    rotating = make_provider(
        "rotating-graceful",
        fake_provider.url,
        oauth={"token_quirks": {"refresh_token_rotates": True, "refresh_token_reuse_seconds": 300}},
    )
    ConnectorConfigFactory(application=application, provider=rotating)
    (row,) = due_connections(application, customer, rotating, 1)
    first_request = timezone.now() - timedelta(minutes=1)
    Connection.objects.filter(pk=row.pk).update(refresh_started_at=first_request)
    marks_during_the_resend = []

    def note_the_mark(request):
        marks_during_the_resend.append(Connection.objects.get(pk=row.pk).refresh_started_at)
        return rotating_token(request)

    fake_provider.on("POST", "/token", body=note_the_mark)
    services.connection_refresh_batch(connection_ids=[row.pk])

    assert marks_during_the_resend == [first_request]


def test_a_row_reconnected_while_its_batch_waits_on_the_provider_keeps_the_new_grant(
    fake_provider, oauth_provider, application, customer
):
    ConnectorConfigFactory(application=application, provider=oauth_provider)
    reconnected, other = due_connections(application, customer, oauth_provider, 2)

    def reconnect_during_the_request(request):
        if request.form["refresh_token"] == "rt-0":
            row = Connection.objects.get(pk=reconnected.pk)
            row.credentials = {"access_token": "from-the-reconnect", "refresh_token": "rt-reconnected"}
            row.refresh_lease_until = row.refresh_started_at = None
            row.save()
        return rotating_token(request)

    fake_provider.on("POST", "/token", body=reconnect_during_the_request)
    services.connection_refresh_batch(connection_ids=[reconnected.pk, other.pk])

    assert Connection.objects.get(pk=reconnected.pk).credentials["access_token"] == "from-the-reconnect"
    assert Connection.objects.get(pk=other.pk).credentials["refresh_token"] == "next-rt-1"


def test_rows_the_send_window_left_unsent_are_freed_for_the_next_sweep(
    fake_provider, oauth_provider, application, customer, monkeypatch
):
    ConnectorConfigFactory(application=application, provider=oauth_provider)
    fresh, interrupted = due_connections(application, customer, oauth_provider, 2)
    earlier_mark = timezone.now() - timedelta(seconds=10)
    Connection.objects.filter(pk=interrupted.pk).update(refresh_started_at=earlier_mark)
    fake_provider.on("POST", "/token", body=rotating_token)
    monkeypatch.setattr(services, "REFRESH_BATCH_SEND_WINDOW", timedelta(0))

    assert services.connection_refresh_batch(connection_ids=[fresh.pk, interrupted.pk]) == 2
    assert fake_provider.calls("/token") == []
    fresh, interrupted = (Connection.objects.get(pk=c.pk) for c in (fresh, interrupted))
    assert fresh.refresh_lease_until is None and fresh.refresh_started_at is None, "nothing was sent"
    assert interrupted.refresh_lease_until is None and interrupted.refresh_started_at == earlier_mark


def test_a_batch_backs_off_a_refused_row_by_its_retry_after_and_announces_the_error_once(
    fake_provider, oauth_provider, application, customer
):
    application.webhook_url = "https://hooks.acme.test/patchbay"
    application.save()
    ConnectorConfigFactory(application=application, provider=oauth_provider)
    limited, fine = due_connections(application, customer, oauth_provider, 2)

    def rate_limit_the_first(request):
        if request.form["refresh_token"] == "rt-0":
            return 429, {"error": "slow_down"}
        return rotating_token(request)

    fake_provider.on("POST", "/token", body=rate_limit_the_first, headers={"Retry-After": "600"})
    services.connection_refresh_batch(connection_ids=[limited.pk, fine.pk])

    limited = Connection.objects.get(pk=limited.pk)
    assert limited.status == Connection.Status.ERROR and limited.refresh_failure_count == 1
    assert limited.refresh_due_at >= timezone.now() + timedelta(seconds=590)
    assert limited.refresh_lease_until is None and limited.refresh_started_at is None
    assert list(WebhookDelivery.objects.values_list("event_type", flat=True)) == ["connection.error"]
    assert Connection.objects.get(pk=fine.pk).credentials["refresh_token"] == "next-rt-1"


def test_rows_marked_for_a_thread_when_the_send_window_closes_are_freed_unmarked(
    fake_provider, oauth_provider, application, customer, monkeypatch
):
    """A freed thread takes the next row from a group marked in one UPDATE; the rest of that group waits
    marked. If the send window closes meanwhile they were never sent: their mark goes with their lease, so
    the next sweep does not take them for interrupted refreshes."""
    ConnectorConfigFactory(application=application, provider=oauth_provider)
    rows = due_connections(application, customer, oauth_provider, 2 * services.REFRESH_BATCH_CONCURRENCY)
    arrived = []

    def first_answers_at_once_the_rest_late(request):
        arrived.append(request.form["refresh_token"])
        time.sleep(0.0 if len(arrived) == 1 else 0.6)
        return rotating_token(request)

    fake_provider.on("POST", "/token", body=first_answers_at_once_the_rest_late)
    monkeypatch.setattr(services, "REFRESH_BATCH_SEND_WINDOW", timedelta(seconds=0.3))

    services.connection_refresh_batch(connection_ids=[c.pk for c in rows])

    sent = set(arrived)
    assert len(sent) == services.REFRESH_BATCH_CONCURRENCY + 1, "the first group, then one row for the freed thread"
    unsent = [Connection.objects.get(pk=c.pk) for c in rows if c.credentials["refresh_token"] not in sent]
    assert all(row.refresh_lease_until is None and row.refresh_started_at is None for row in unsent)
    assert all(
        Connection.objects.get(pk=c.pk).credentials["refresh_token"].startswith("next-")
        for c in rows
        if c.credentials["refresh_token"] in sent
    )
