"""Outbound webhooks, signed per the Standard Webhooks specification (https://www.standardwebhooks.com).

An event becomes a WebhookDelivery row inside the caller's transaction and is handed to the worker after
commit. Sending is claim -> send -> record, so no database lock is ever held while a receiver answers:
- claim: one UPDATE that counts the attempt and sets `lease_until`, only while the delivery is pending,
  due (`next_attempt_at` has come) and nobody holds an unexpired lease; the row count says whether this
  worker owns the attempt. A worker that dies mid-send leaves a lease that simply runs out; a duplicate
  task (a broker redelivery, a sweep overlapping the first attempt) finds the backoff and does nothing.
  Who wants an attempt now (resend, the admin's "try now") says so in the row: `next_attempt_at` = now.
- send: the signed POST with no transaction open (`ensure_no_transaction` refuses otherwise).
- record: one short UPDATE (status, latency, an excerpt of the answer) guarded by the attempt number,
  so a worker whose lease expired and was overtaken cannot overwrite the newer attempt's result.
Failures are retried with exponential backoff and jitter, `MAX_ATTEMPTS` in all.
"""

import json
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import Message
from typing import Any, Protocol

import urllib3
from celery import signature
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook
from urllib3 import exceptions as urllib3_exceptions

from apps.audit.services import audit_record, audit_url
from apps.core.errors import ValidationFailed
from apps.core.http import pool_for, total_deadline, without_credentials
from apps.core.ids import new_id
from apps.core.timestamps import format_timestamp
from apps.core.transactions import ensure_no_transaction
from apps.tenants.models import Application, Customer
from apps.webhooks.models import WebhookDelivery

MAX_ATTEMPTS = 8
BASE_BACKOFF_SECONDS = 30
MAX_BACKOFF_SECONDS = 6 * 3600
LEASE_MARGIN_SECONDS = 30
RESPONSE_EXCERPT_CHARS = 500
# The most of an answer's body read (decompressed): enough for the excerpt in any charset, and a receiver
# that answers with an endless or a highly compressed body costs no more than this.
RESPONSE_READ_BYTES = 4 * RESPONSE_EXCERPT_CHARS
DELIVER_TASK = "webhooks.deliver"
TEST_EVENT_TYPE = "webhook.test"


class _Named(Protocol):
    @property
    def name(self) -> str: ...


class EventConnection(Protocol):
    """What an event reads of a connection (webhooks sits below connections, so it names no Connection)."""

    @property
    def pk(self) -> Any: ...
    @property
    def application(self) -> Application: ...
    @property
    def customer(self) -> Customer: ...
    @property
    def provider(self) -> _Named: ...
    @property
    def status(self) -> str: ...
    @property
    def is_authentication_pending(self) -> bool: ...
    @property
    def is_configured(self) -> bool: ...
    @property
    def health_authentication_required(self) -> bool: ...


def connection_event_data(connection: EventConnection) -> dict[str, Any]:
    return {
        "connection_id": connection.pk,
        "customer_id": connection.customer.external_id,
        "provider": connection.provider.name,
        "status": connection.status,
        "is_authentication_pending": connection.is_authentication_pending,
        "is_configured": connection.is_configured,
        "authentication_required": connection.health_authentication_required,
    }


def _delivery_create(*, application: Application, type: str, data: dict[str, Any]) -> WebhookDelivery:
    now = timezone.now()
    delivery = WebhookDelivery.objects.create(
        application=application,
        event_type=type,
        payload={"id": new_id("evt"), "type": type, "timestamp": format_timestamp(now), "data": data},
        url=application.webhook_url,
        next_attempt_at=now,
    )
    _deliver_after_commit(delivery.pk)
    return delivery


def _deliver_after_commit(delivery_id: str) -> None:
    transaction.on_commit(lambda: _queue(delivery_id))


def _queue(delivery_id: str) -> None:
    # By task name, so this module does not import the task module that imports it.
    signature(DELIVER_TASK, args=(delivery_id,)).delay()


def event_emit(*, type: str, connection: EventConnection, data: dict[str, Any] | None = None) -> WebhookDelivery | None:
    application = connection.application
    if not application.webhook_url:
        return None
    return _delivery_create(
        application=application, type=type, data={**connection_event_data(connection), **(data or {})}
    )


@transaction.atomic
def webhook_test_event_send(*, application: Application, actor: str = "system") -> WebhookDelivery:
    """Queue a `webhook.test` event to the application's webhook URL, signed like every real event."""
    if not application.webhook_url:
        raise ValidationFailed.from_messages(
            "This application has no webhook URL; set one before sending a test event."
        )
    delivery = _delivery_create(
        application=application,
        type=TEST_EVENT_TYPE,
        data={"application_id": application.pk, "message": "Test event sent from Patchbay."},
    )
    audit_record(action="webhook.test_sent", target=delivery, actor=actor, application=application)
    return delivery


def webhook_delivery_resend(*, delivery: WebhookDelivery, actor: str = "system") -> WebhookDelivery:
    """Send an event again as a new delivery to the application's current webhook URL. The event id (the
    `webhook-id` header) stays the same, so a receiver that already processed it can tell and skip it."""
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
            action="webhook_delivery.resent",
            target=resend,
            actor=actor,
            data={"resent_from": delivery.pk, "url": audit_url(url)},
        )
        _deliver_after_commit(resend.pk)
    return resend


def webhook_retry_delay(attempts: int) -> timedelta:
    """Exponential backoff with jitter: a random point in the upper half of 30 s * 2^(attempts-1), capped at 6 h.

    The randomness spreads the retries of many deliveries that failed together (a receiver outage) so
    they do not all come back in the same second; keeping to the upper half keeps each wait longer
    than the one before.
    """
    ceiling = min(MAX_BACKOFF_SECONDS, BASE_BACKOFF_SECONDS * 2 ** (attempts - 1))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def webhook_signing_secrets(*, application: Application, at: datetime) -> list[str]:
    """The current secret first, then every rotated-out secret still inside its overlap window."""
    stored = application.webhook_secret or {}
    secrets = [stored["secret"]] if stored.get("secret") else []
    for previous in stored.get("previous", []):
        if datetime.fromisoformat(previous["valid_until"]) > at:
            secrets.append(previous["secret"])
    return secrets


def webhook_signature(*, secrets: list[str], message_id: str, sent_at: datetime, body: str) -> str:
    """The `webhook-signature` header: one `v1,<base64>` per secret, space-separated, as the spec allows."""
    return " ".join(Webhook(secret).sign(msg_id=message_id, timestamp=sent_at, data=body) for secret in secrets)


@dataclass(frozen=True)
class SendResult:
    status_code: int | None
    latency_ms: int
    response_excerpt: str
    error: str

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def webhook_attempt_seconds() -> float:
    """The longest one attempt lasts, whatever the receiver does: the webhook timeout to connect plus the
    timeout to answer. Its lease outlasts it, so no second attempt starts while it runs."""
    return 2 * settings.PATCHBAY_WEBHOOK_TIMEOUT_SECONDS


def webhook_delivery_claim(*, delivery_id: str) -> WebhookDelivery | None:
    """Take the next attempt of a pending delivery; None when it is settled, not due yet or another worker is
    sending it."""
    now = timezone.now()
    lease = now + timedelta(seconds=webhook_attempt_seconds() + LEASE_MARGIN_SECONDS)
    claimed = (
        WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=lease, attempts=F("attempts") + 1, modified_at=now)
    )
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("application").get(pk=delivery_id)


# The error an attempt that got no answer records: the name of the first entry the urllib3 error is an
# instance of, "ConnectionError" when none fits. NewConnectionError (refused, not resolved) comes first
# because urllib3 makes it a subclass of ConnectTimeoutError.
FAILURE_NAMES: tuple[tuple[type[Exception], str], ...] = (
    (urllib3_exceptions.NewConnectionError, "ConnectionError"),
    (urllib3_exceptions.ConnectTimeoutError, "ConnectTimeout"),
    (urllib3_exceptions.ReadTimeoutError, "ReadTimeout"),
    (urllib3_exceptions.ProxyError, "ProxyError"),
    (urllib3_exceptions.SSLError, "SSLError"),
    (urllib3_exceptions.URLSchemeUnknown, "InvalidSchema"),
    (urllib3_exceptions.LocationValueError, "InvalidURL"),
)


def webhook_delivery_send(*, delivery: WebhookDelivery) -> SendResult:
    """POST the signed event once: the webhook timeout for connecting and for reading, no retry (the
    backoff decides when to try again) and no redirect followed (the event goes to the URL the application
    set, nowhere else). Credentials in the URL are sent as Basic authorization. The attempt ends after
    webhook_attempt_seconds() whatever the receiver does; once its status came, the answer's start is read
    for the excerpt, and a receiver that stops short there is still recorded by its status."""
    ensure_no_transaction(operation="webhook delivery")
    sent_at = timezone.now()
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True)
    message_id = delivery.payload["id"]
    secrets = webhook_signing_secrets(application=delivery.application, at=sent_at)
    url, authorization = without_credentials(delivery.url)
    timeout = settings.PATCHBAY_WEBHOOK_TIMEOUT_SECONDS
    started = time.monotonic()
    with total_deadline(webhook_attempt_seconds()) as deadline:
        try:
            response = pool_for(url).request(
                "POST",
                url,
                body=body.encode(),
                headers={
                    "Content-Type": "application/json",
                    "User-Agent": "Patchbay-Webhooks/1",
                    "Accept": "*/*",
                    "Accept-Encoding": "gzip, deflate",
                    **authorization,
                    "webhook-id": message_id,
                    "webhook-timestamp": str(int(sent_at.timestamp())),
                    "webhook-signature": webhook_signature(
                        secrets=secrets, message_id=message_id, sent_at=sent_at, body=body
                    ),
                },
                timeout=urllib3.Timeout(connect=timeout, read=timeout),
                retries=False,
                redirect=False,
                preload_content=False,
            )
        except (urllib3_exceptions.HTTPError, OSError) as exc:
            failure = next((name for kind, name in FAILURE_NAMES if isinstance(exc, kind)), "ConnectionError")
            return SendResult(None, _elapsed_ms(started), "", "Timeout" if deadline.passed else failure)
        if deadline.passed:  # an answer cut short can still parse: "HTTP/1.1 200" with the rest cut off
            response.close()
            return SendResult(None, _elapsed_ms(started), "", "Timeout")
        try:
            answer_start = response.read(RESPONSE_READ_BYTES, decode_content=True)
        except (urllib3_exceptions.HTTPError, OSError):
            answer_start = b""
        finally:
            # urllib3 hands the connection back to the pool once an answer was read to the end; one the
            # receiver is still sending on is closed here instead, unread.
            response.close()
    status = response.status
    return SendResult(
        status_code=status,
        latency_ms=_elapsed_ms(started),
        response_excerpt=_answer_text(response, answer_start)[:RESPONSE_EXCERPT_CHARS],
        error=_answer_error(status),
    )


def _answer_error(status: int) -> str:
    """What a delivery records for an answer that is not a 2xx: a redirect is not followed (the event goes
    only to the URL the application set), so it is a failure the console shows like any other."""
    if 200 <= status < 300:
        return ""
    if 300 <= status < 400:
        return f"HTTP {status} (redirect not followed: update the webhook URL)"
    return f"HTTP {status}"


def _answer_text(response: urllib3.BaseHTTPResponse, body: bytes) -> str:
    """The answer's body as text: in the charset its Content-Type names, UTF-8 when it names none."""
    content_type = Message()
    content_type["Content-Type"] = response.headers.get("Content-Type", "")
    try:
        return body.decode(content_type.get_content_charset() or "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def webhook_delivery_record(*, delivery: WebhookDelivery, result: SendResult) -> WebhookDelivery | None:
    """Write the attempt's outcome; returns the delivery as it now stands (None once it is gone, e.g. its
    application was deleted meanwhile)."""
    now = timezone.now()
    changes = {
        "lease_until": None,
        "last_response_status": result.status_code,
        "last_latency_ms": result.latency_ms,
        "last_response_excerpt": result.response_excerpt,
        "last_error": result.error,
        "modified_at": now,
    }
    if result.succeeded:
        changes.update(status=WebhookDelivery.Status.DELIVERED, delivered_at=now, next_attempt_at=None)
    elif delivery.attempts >= MAX_ATTEMPTS:
        changes.update(status=WebhookDelivery.Status.FAILED, next_attempt_at=None)
    else:
        changes.update(next_attempt_at=now + webhook_retry_delay(delivery.attempts))
    WebhookDelivery.objects.filter(
        pk=delivery.pk, status=WebhookDelivery.Status.PENDING, attempts=delivery.attempts
    ).update(**changes)
    return WebhookDelivery.objects.filter(pk=delivery.pk).first()


def webhook_deliver(*, delivery_id: str) -> WebhookDelivery | None:
    """Try one attempt of a delivery unless it is settled or being sent; returns its state after (None
    when it no longer exists)."""
    delivery = webhook_delivery_claim(delivery_id=delivery_id)
    if delivery is None:
        return WebhookDelivery.objects.filter(pk=delivery_id).first()
    return webhook_delivery_record(delivery=delivery, result=webhook_delivery_send(delivery=delivery))


@transaction.atomic
def webhook_deliveries_queue(*, delivery_ids: list[str]) -> int:
    """Make each pending delivery among `delivery_ids` due now, whatever its retry time, and queue an
    attempt; returns how many were queued. One being sent at this moment keeps its lease and is not sent
    twice: if that attempt fails, its new retry time stands."""
    due = list(
        WebhookDelivery.objects.filter(pk__in=delivery_ids, status=WebhookDelivery.Status.PENDING).values_list(
            "pk", flat=True
        )
    )
    now = timezone.now()
    WebhookDelivery.objects.filter(pk__in=due, status=WebhookDelivery.Status.PENDING).update(
        next_attempt_at=now, modified_at=now
    )
    for delivery_id in due:
        _deliver_after_commit(delivery_id)
    return len(due)


def webhook_due_ids(*, limit: int = 500) -> list[str]:
    return list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
