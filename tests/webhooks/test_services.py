import json
import re
import threading
from datetime import timedelta

import pytest
from django.db import connections, transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from apps.audit.models import AuditEvent
from apps.connections import services
from apps.core.timestamps import TIMESTAMP_PATTERN
from apps.core.transactions import NetworkCallInTransaction
from apps.tenants.models import Application
from apps.tenants.services import application_webhook_secret_rotate, webhook_secret_new
from apps.webhooks.models import WebhookDelivery
from apps.webhooks.services import (
    MAX_ATTEMPTS,
    event_emit,
    webhook_deliver,
    webhook_deliveries_queue,
    webhook_delivery_claim,
    webhook_delivery_record,
    webhook_delivery_resend,
    webhook_delivery_send,
    webhook_due_ids,
    webhook_retry_delay,
    webhook_test_event_send,
)
from tests.audit.stored import audit_table_text
from tests.factories import ApplicationFactory, ConnectionFactory, CustomerFactory


@pytest.fixture
def hooked_app(db, receiver, secret):
    return ApplicationFactory(webhook_url=f"{receiver.url}/hooks", webhook_secret={"secret": secret})


def _connection(application):
    return ConnectionFactory(application=application, customer=CustomerFactory(application=application))


def _expire_previous_secrets(application):
    application = Application.objects.get(pk=application.pk)
    ended = (timezone.now() - timedelta(seconds=1)).isoformat()
    stored = application.webhook_secret
    application.webhook_secret = {**stored, "previous": [{**p, "valid_until": ended} for p in stored["previous"]]}
    application.save(update_fields=["webhook_secret"])


def _verify(secret: str, request) -> dict:
    return Webhook(secret).verify(request.body, request.headers)


def test_event_is_delivered_after_commit_and_verifies_with_the_standard_webhooks_library(
    hooked_app, receiver, secret, django_capture_on_commit_callbacks
):
    receiver.on("POST", "/hooks", body={"ok": True})
    connection = _connection(hooked_app)
    with django_capture_on_commit_callbacks(execute=True):
        services.connection_update(connection=connection, display_name="x")
        services.connection_disconnect(connection=connection)
    delivery = WebhookDelivery.objects.get(application=hooked_app, event_type="connection.disconnected")
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    request = receiver.calls("/hooks")[0]
    payload = _verify(secret, request)
    assert request.headers["webhook-id"] == payload["id"] == delivery.payload["id"]
    assert payload["type"] == "connection.disconnected"
    assert re.match(TIMESTAMP_PATTERN, payload["timestamp"])
    assert payload["data"]["connection_id"] == connection.pk
    assert payload["data"]["customer_id"] == connection.customer.external_id
    assert "credentials" not in request.body.decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(webhook_secret_new()).verify(request.body, request.headers)
    tampered = request.body.replace(b"connection.disconnected", b"connection.authenticated")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, request.headers)


def test_failed_delivery_is_retried_with_backoff_then_gives_up(hooked_app, receiver):
    receiver.on("POST", "/hooks", status=500, body={})
    delivery = event_emit(type="connection.error", connection=_connection(hooked_app))
    first = webhook_deliver(delivery_id=delivery.pk)
    assert first.status == WebhookDelivery.Status.PENDING
    assert first.attempts == 1 and first.last_response_status == 500 and first.last_error == "HTTP 500"
    assert first.next_attempt_at >= timezone.now() + timedelta(seconds=14)
    assert first.lease_until is None and first.last_latency_ms is not None
    assert delivery.pk not in webhook_due_ids()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=MAX_ATTEMPTS - 1, next_attempt_at=timezone.now())
    last = webhook_deliver(delivery_id=delivery.pk)
    assert last.status == WebhookDelivery.Status.FAILED and last.next_attempt_at is None
    assert len(receiver.calls("/hooks")) == 2


def test_a_resent_event_keeps_its_id_and_verifies(hooked_app, receiver, secret, django_capture_on_commit_callbacks):
    receiver.on("POST", "/hooks", body={})
    delivery = event_emit(type="connection.error", connection=_connection(hooked_app))
    webhook_deliver(delivery_id=delivery.pk)
    with django_capture_on_commit_callbacks(execute=True):
        resend = webhook_delivery_resend(delivery=delivery, actor="staff:ann")
    first, again = receiver.calls("/hooks")
    assert _verify(secret, first)["id"] == _verify(secret, again)["id"] == delivery.payload["id"]
    assert WebhookDelivery.objects.get(pk=resend.pk).resent_from_id == delivery.pk


def test_a_resend_records_where_it_went_without_the_token_in_the_webhook_url(hooked_app):
    delivery = event_emit(type="connection.error", connection=_connection(hooked_app))
    Application.objects.filter(pk=hooked_app.pk).update(
        webhook_url="https://hooks.example.com/T0/B0/path-secret?token=query-secret"
    )
    resend = webhook_delivery_resend(delivery=WebhookDelivery.objects.get(pk=delivery.pk), actor="staff:ann")
    assert resend.url == "https://hooks.example.com/T0/B0/path-secret?token=query-secret"
    stored = audit_table_text()
    assert "path-secret" not in stored and "query-secret" not in stored
    event = AuditEvent.objects.get(action="webhook_delivery.resent", target_id=resend.pk)
    assert event.data == {"resent_from": delivery.pk, "url": "https://hooks.example.com/…?…"}


def test_a_duplicate_task_before_the_backoff_sends_nothing(hooked_app, receiver):
    receiver.on("POST", "/hooks", status=500, body={})
    delivery = event_emit(type="connection.error", connection=_connection(hooked_app))
    failed = webhook_deliver(delivery_id=delivery.pk)
    assert failed.attempts == 1 and failed.next_attempt_at > timezone.now()
    again = webhook_deliver(delivery_id=delivery.pk)
    assert len(receiver.calls("/hooks")) == 1
    assert again.attempts == 1 and again.next_attempt_at == failed.next_attempt_at


def test_resend_and_try_now_send_at_once_despite_the_backoff(hooked_app, receiver, django_capture_on_commit_callbacks):
    receiver.on("POST", "/hooks", status=500, body={})
    delivery = event_emit(type="connection.error", connection=_connection(hooked_app))
    assert webhook_deliver(delivery_id=delivery.pk).next_attempt_at > timezone.now()
    receiver.on("POST", "/hooks", body={})
    with django_capture_on_commit_callbacks(execute=True):
        resend = webhook_delivery_resend(delivery=delivery, actor="staff:ann")
    assert WebhookDelivery.objects.get(pk=resend.pk).status == WebhookDelivery.Status.DELIVERED
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_deliveries_queue(delivery_ids=[delivery.pk]) == 1
    tried = WebhookDelivery.objects.get(pk=delivery.pk)
    assert tried.status == WebhookDelivery.Status.DELIVERED and tried.attempts == 2
    assert len(receiver.calls("/hooks")) == 3


def test_retry_delay_grows_with_each_attempt_and_is_jittered():
    samples = {attempts: [webhook_retry_delay(attempts) for _ in range(40)] for attempts in range(1, 7)}
    for attempts in range(1, 6):
        assert max(samples[attempts]) <= min(samples[attempts + 1]), "each wait is longer than the one before"
        assert len(set(samples[attempts])) > 30, "retries of deliveries that failed together are spread out"
    assert max(samples[6]) > 10 * min(samples[1])
    assert webhook_retry_delay(30) <= timedelta(hours=6)


def test_applications_without_a_webhook_url_get_no_deliveries(db):
    services.connection_disconnect(connection=ConnectionFactory())
    assert not WebhookDelivery.objects.exists()


def test_the_sender_refuses_to_run_inside_a_transaction(hooked_app, receiver):
    receiver.on("POST", "/hooks", body={})
    delivery = event_emit(type="connection.error", connection=_connection(hooked_app))
    claimed = webhook_delivery_claim(delivery_id=delivery.pk)
    with pytest.raises(NetworkCallInTransaction), transaction.atomic():
        webhook_delivery_send(delivery=claimed)
    assert receiver.calls("/hooks") == []


def test_a_claimed_delivery_cannot_be_claimed_again_until_its_lease_runs_out(hooked_app, receiver):
    delivery = event_emit(type="connection.error", connection=_connection(hooked_app))
    claimed = webhook_delivery_claim(delivery_id=delivery.pk)
    assert claimed is not None and claimed.attempts == 1
    assert webhook_delivery_claim(delivery_id=delivery.pk) is None
    WebhookDelivery.objects.filter(pk=delivery.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert webhook_delivery_claim(delivery_id=delivery.pk).attempts == 2, "an abandoned claim is taken over"


def test_an_overtaken_attempt_does_not_overwrite_the_newer_result(hooked_app, receiver):
    receiver.on("POST", "/hooks", body={})
    delivery = event_emit(type="connection.error", connection=_connection(hooked_app))
    stale = webhook_delivery_claim(delivery_id=delivery.pk)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    current = webhook_delivery_claim(delivery_id=delivery.pk)
    delivered = webhook_delivery_record(delivery=current, result=webhook_delivery_send(delivery=current))
    assert delivered.status == WebhookDelivery.Status.DELIVERED
    after_stale = webhook_delivery_record(delivery=stale, result=webhook_delivery_send(delivery=stale))
    assert after_stale.status == WebhookDelivery.Status.DELIVERED and after_stale.attempts == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_send_one_attempt(receiver, secret):
    application = ApplicationFactory(webhook_url=f"{receiver.url}/hooks", webhook_secret={"secret": secret})
    receiver.on("POST", "/hooks", body={}, delay=0.5)
    delivery = event_emit(type="connection.error", connection=_connection(application))
    barrier = threading.Barrier(6)
    errors = []

    def worker():
        try:
            barrier.wait()
            webhook_deliver(delivery_id=delivery.pk)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(receiver.calls("/hooks")) == 1
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == WebhookDelivery.Status.DELIVERED


def test_after_rotation_both_secrets_verify_until_the_overlap_ends(hooked_app, receiver, secret):
    receiver.on("POST", "/hooks", body={})
    new_secret = application_webhook_secret_rotate(application=hooked_app, overlap=timedelta(hours=2))
    assert new_secret.startswith("whsec_") and new_secret != secret
    hooked_app = Application.objects.get(pk=hooked_app.pk)
    webhook_deliver(delivery_id=event_emit(type="connection.error", connection=_connection(hooked_app)).pk)
    during = receiver.calls("/hooks")[-1]
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert _verify(secret, during) and _verify(new_secret, during)

    _expire_previous_secrets(hooked_app)
    webhook_deliver(delivery_id=event_emit(type="connection.error", connection=_connection(hooked_app)).pk)
    after = receiver.calls("/hooks")[-1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert _verify(new_secret, after)
    with pytest.raises(WebhookVerificationError):
        _verify(secret, after)


def test_rotation_drops_previous_secrets_whose_overlap_has_ended(hooked_app, secret):
    first = application_webhook_secret_rotate(application=hooked_app, overlap=timedelta(hours=1))
    stored = Application.objects.get(pk=hooked_app.pk).webhook_secret
    assert stored["previous"][0]["secret"] == secret
    _expire_previous_secrets(hooked_app)
    application_webhook_secret_rotate(application=hooked_app, overlap=timedelta(hours=1))
    stored = Application.objects.get(pk=hooked_app.pk).webhook_secret
    assert [p["secret"] for p in stored["previous"]] == [first]


def test_test_event_is_signed_like_a_real_event(hooked_app, receiver, secret, django_capture_on_commit_callbacks):
    receiver.on("POST", "/hooks", body={})
    with django_capture_on_commit_callbacks(execute=True):
        delivery = webhook_test_event_send(application=hooked_app, actor="staff:ann")
    payload = _verify(secret, receiver.calls("/hooks")[0])
    assert payload["type"] == "webhook.test" and payload["id"] == delivery.payload["id"]
    assert payload["data"]["application_id"] == hooked_app.pk
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == WebhookDelivery.Status.DELIVERED


def test_webhook_body_is_compact_sorted_json(hooked_app, receiver):
    receiver.on("POST", "/hooks", body={})
    webhook_deliver(delivery_id=event_emit(type="connection.error", connection=_connection(hooked_app)).pk)
    body = receiver.calls("/hooks")[0].body
    assert body == json.dumps(json.loads(body), separators=(",", ":"), sort_keys=True).encode()
