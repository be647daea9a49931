"""Outbound webhooks: an event becomes a WebhookDelivery row in the caller's transaction and is sent
after commit, signed with the application's secret, retried with exponential backoff and jitter.
A send claims the row (a lease), posts with no transaction open, then records status, latency and an
excerpt of the answer."""

import hashlib
import hmac
import json
import random
import time
from dataclasses import dataclass
from datetime import timedelta

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.ids import new_id
from apps.core.services import audit_record
from apps.core.transactions import ensure_no_transaction
from apps.webhooks.models import WebhookDelivery

MAX_ATTEMPTS = 8
BASE_BACKOFF_SECONDS = 30
LEASE_MARGIN_SECONDS = 30
RESPONSE_EXCERPT_CHARS = 500
RECORDED_FIELDS = [
    "attempts",
    "lease_until",
    "last_response_status",
    "last_latency_ms",
    "last_response_excerpt",
    "last_error",
    "status",
    "delivered_at",
    "next_attempt_at",
]
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
    _deliver_after_commit(delivery)
    return delivery


def _deliver_after_commit(delivery: WebhookDelivery) -> None:
    from apps.webhooks.tasks import deliver_webhook

    transaction.on_commit(lambda: deliver_webhook.delay(delivery.pk))


def webhook_delivery_resend(*, delivery: WebhookDelivery, actor: str = "system") -> WebhookDelivery:
    """Send an event again as a new delivery to the application's current webhook URL. The event id stays
    the same, so a receiver that already processed it can tell and skip it."""
    application = delivery.application
    url = application.webhook_url or delivery.url
    with transaction.atomic():
        resend = WebhookDelivery.objects.create(
            application=application,
            event_type=delivery.event_type,
            payload=delivery.payload,
            url=url,
            next_attempt_at=timezone.now(),
            resent_from=delivery,
        )
        audit_record(
            action="webhook_delivery.resent", target=resend, actor=actor, data={"resent_from": delivery.pk, "url": url}
        )
        _deliver_after_commit(resend)
    return resend


def _backoff(attempts: int) -> timedelta:
    seconds = BASE_BACKOFF_SECONDS * (2 ** (attempts - 1))
    return timedelta(seconds=seconds + random.uniform(0, seconds / 2))


@dataclass(frozen=True)
class SendResult:
    status_code: int | None
    latency_ms: int
    response_excerpt: str
    error: str

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _claim(delivery_id: str) -> WebhookDelivery | None:
    """Take the delivery for one attempt: a compare-and-set on its lease, so two workers never both send it."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.PATCHBAY_PROVIDER_TIMEOUT_SECONDS + LEASE_MARGIN_SECONDS)
    claimed = (
        WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=lease)
    )
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("application").get(pk=delivery_id)


def _send(delivery: WebhookDelivery) -> SendResult:
    ensure_no_transaction(operation="webhook delivery")
    secret = (delivery.application.webhook_secret or {}).get("secret", "")
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(time.time())
    started = time.monotonic()
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
    except requests.RequestException as exc:
        return SendResult(None, _elapsed_ms(started), "", type(exc).__name__)
    return SendResult(
        status_code=response.status_code,
        latency_ms=_elapsed_ms(started),
        response_excerpt=response.text[:RESPONSE_EXCERPT_CHARS],
        error="" if response.ok else f"HTTP {response.status_code}",
    )


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _record(delivery: WebhookDelivery, result: SendResult) -> WebhookDelivery:
    delivery.attempts += 1
    delivery.lease_until = None
    delivery.last_response_status = result.status_code
    delivery.last_latency_ms = result.latency_ms
    delivery.last_response_excerpt = result.response_excerpt
    delivery.last_error = result.error
    if result.succeeded:
        delivery.status = WebhookDelivery.Status.DELIVERED
        delivery.delivered_at = timezone.now()
        delivery.next_attempt_at = None
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = WebhookDelivery.Status.FAILED
        delivery.next_attempt_at = None
    else:
        delivery.next_attempt_at = timezone.now() + _backoff(delivery.attempts)
    # Saved by primary key only: the row may have been deleted with its application meanwhile.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        **{field: getattr(delivery, field) for field in RECORDED_FIELDS}, modified_at=timezone.now()
    )
    return delivery


def webhook_deliver(*, delivery_id: str) -> WebhookDelivery | None:
    """Try one delivery: claim it, send with no transaction open, record the outcome. Returns the delivery
    as it now stands (None when it no longer exists, e.g. its application was deleted)."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return WebhookDelivery.objects.filter(pk=delivery_id).first()
    return _record(delivery, _send(delivery))


def webhook_due_ids(*, limit: int = 500) -> list[str]:
    return list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
