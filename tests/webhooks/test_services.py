import hashlib
import hmac
import json

import pytest

from apps.connections import services
from apps.webhooks.models import WebhookDelivery
from apps.webhooks.services import MAX_ATTEMPTS, sign_payload, webhook_deliver, webhook_due_ids
from tests.factories import ApplicationFactory, ConnectionFactory, CustomerFactory
from tests.provider_server import start_fake_provider


@pytest.fixture
def receiver():
    provider, server = start_fake_provider()
    yield provider
    server.shutdown()
    server.server_close()


@pytest.fixture
def hooked_app(db, receiver):
    return ApplicationFactory(webhook_url=f"{receiver.url}/hooks", webhook_secret={"secret": "whsec_known"})


def test_event_is_delivered_after_commit_with_a_verifiable_signature(
    hooked_app, receiver, django_capture_on_commit_callbacks
):
    receiver.on("POST", "/hooks", body={"ok": True})
    connection = ConnectionFactory(application=hooked_app, customer=CustomerFactory(application=hooked_app))
    with django_capture_on_commit_callbacks(execute=True):
        services.connection_update(connection=connection, display_name="x")
        services.connection_disconnect(connection=connection)
    delivery = WebhookDelivery.objects.get(application=hooked_app, event_type="connection.disconnected")
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    request = receiver.calls("/hooks")[0]
    timestamp, signature = (part.split("=", 1)[1] for part in request.headers["Patchbay-Signature"].split(","))
    expected = hmac.new(b"whsec_known", f"{timestamp}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected)
    payload = json.loads(request.body)
    assert payload["type"] == "connection.disconnected"
    assert payload["data"]["connection_id"] == connection.pk
    assert payload["data"]["customer_id"] == connection.customer.external_id
    assert "credentials" not in request.body.decode()


def test_failed_delivery_is_retried_with_backoff_then_gives_up(hooked_app, receiver):
    receiver.on("POST", "/hooks", status=500, body={})
    connection = ConnectionFactory(application=hooked_app, customer=CustomerFactory(application=hooked_app))
    from apps.webhooks.services import event_emit

    delivery = event_emit(type="connection.error", connection=connection)
    first = webhook_deliver(delivery_id=delivery.pk)
    assert first.status == WebhookDelivery.Status.PENDING
    assert first.attempts == 1 and first.last_response_status == 500
    assert first.next_attempt_at > first.modified_at.replace(microsecond=0)
    assert delivery.pk not in webhook_due_ids()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=MAX_ATTEMPTS - 1)
    last = webhook_deliver(delivery_id=delivery.pk)
    assert last.status == WebhookDelivery.Status.FAILED and last.next_attempt_at is None


def test_applications_without_a_webhook_url_get_no_deliveries(db):
    connection = ConnectionFactory()
    services.connection_disconnect(connection=connection)
    assert not WebhookDelivery.objects.exists()


def test_signature_format():
    assert sign_payload(secret="s", timestamp=1, body=b"{}") == (
        "t=1,v1=" + hmac.new(b"s", b"1.{}", hashlib.sha256).hexdigest()
    )
