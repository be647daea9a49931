"""Outbound webhooks: an event becomes a WebhookDelivery row in the caller's transaction and is sent
after commit, signed with the application's secret, retried with exponential backoff and jitter."""

import hashlib
import hmac
import json
import random
import time
from datetime import timedelta

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.ids import new_id
from apps.webhooks.models import WebhookDelivery

MAX_ATTEMPTS = 8
BASE_BACKOFF_SECONDS = 30
SIGNATURE_HEADER = "Patchbay-Signature"


def sign_payload(*, secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def connection_event_data(connection) -> dict:
    return {
        "connection_id": connection.pk,
        "customer_id": connection.customer.external_id,
        "provider": connection.provider.name,
        "status": connection.status,
        "is_authentication_pending": connection.is_authentication_pending,
        "is_configured": connection.is_configured,
        "authentication_required": connection.health_authentication_required,
    }


def event_emit(*, type: str, connection, data: dict | None = None) -> WebhookDelivery | None:
    application = connection.application
    if not application.webhook_url:
        return None
    payload = {
        "id": new_id("evt"),
        "type": type,
        "created_at": timezone.now().isoformat(),
        "data": {**connection_event_data(connection), **(data or {})},
    }
    delivery = WebhookDelivery.objects.create(
        application=application,
        event_type=type,
        payload=payload,
        url=application.webhook_url,
        next_attempt_at=timezone.now(),
    )
    from apps.webhooks.tasks import deliver_webhook

    transaction.on_commit(lambda: deliver_webhook.delay(delivery.pk))
    return delivery


def _backoff(attempts: int) -> timedelta:
    seconds = BASE_BACKOFF_SECONDS * (2 ** (attempts - 1))
    return timedelta(seconds=seconds + random.uniform(0, seconds / 2))


def webhook_deliver(*, delivery_id: str) -> WebhookDelivery:
    """Try one delivery. Holds a row lock so two workers never send the same attempt twice."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .select_related("application")
            .filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING)
            .first()
        )
        if delivery is None:
            return WebhookDelivery.objects.get(pk=delivery_id)
        secret = (delivery.application.webhook_secret or {}).get("secret", "")
        body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
        timestamp = int(time.time())
        delivery.attempts += 1
        try:
            response = requests.post(
                delivery.url,
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "User-Agent": "Patchbay-Webhooks/1",
                    SIGNATURE_HEADER: sign_payload(secret=secret, timestamp=timestamp, body=body),
                    "Patchbay-Event-Id": delivery.payload["id"],
                },
                timeout=settings.PATCHBAY_PROVIDER_TIMEOUT_SECONDS,
                allow_redirects=False,
            )
            delivery.last_response_status = response.status_code
            delivery.last_error = "" if response.ok else f"HTTP {response.status_code}"
            succeeded = 200 <= response.status_code < 300
        except requests.RequestException as exc:
            delivery.last_error = type(exc).__name__
            succeeded = False
        if succeeded:
            delivery.status = WebhookDelivery.Status.DELIVERED
            delivery.delivered_at = timezone.now()
            delivery.next_attempt_at = None
        elif delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.next_attempt_at = None
        else:
            delivery.next_attempt_at = timezone.now() + _backoff(delivery.attempts)
        delivery.save()
    return delivery


def webhook_due_ids(*, limit: int = 500) -> list[str]:
    return list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
