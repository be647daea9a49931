"""What the console reads across apps: the overview and a connection's timeline. Query counts are fixed."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Q

from apps.audit.models import AuditEvent
from apps.connections.models import Connection
from apps.webhooks.models import WebhookDelivery

FAILING_STATUSES = [Connection.Status.ERROR, Connection.Status.DISCONNECTED]
RECENT = timedelta(hours=24)
FAILING_SHOWN = 15
PROVIDERS_SHOWN = 10


@dataclass(frozen=True)
class Dashboard:
    total: int
    by_status: list[tuple[str, str, int]]  # (status value, label, count), failing statuses first
    by_provider: list[dict]
    failing: list[Connection]
    failing_total: int
    pending_total: int
    refresh_failures: int
    webhook_failures: int
    since: datetime


def dashboard_summary(*, now: datetime) -> Dashboard:
    since = now - RECENT
    counts = dict(Connection.objects.order_by().values_list("status").annotate(n=Count("id")))
    order = [*FAILING_STATUSES, *(s for s in Connection.Status.values if s not in FAILING_STATUSES)]
    labels = dict(Connection.Status.choices)
    by_status = [(status, labels[status], counts.get(status, 0)) for status in order]
    failing = list(
        Connection.objects.filter(status__in=FAILING_STATUSES)
        .select_related("provider", "customer", "application")
        .order_by("-status_changed_at", "-id")[:FAILING_SHOWN]
    )
    return Dashboard(
        total=sum(counts.values()),
        by_status=by_status,
        by_provider=list(
            Connection.objects.order_by()
            .values("provider_id", "provider__display_name", "provider__name")
            .annotate(n=Count("id"), failing=Count("id", filter=Q(status__in=FAILING_STATUSES)))
            .order_by("-failing", "-n")[:PROVIDERS_SHOWN]
        ),
        failing=failing,
        failing_total=sum(counts.get(s, 0) for s in FAILING_STATUSES),
        pending_total=Connection.objects.filter(is_authentication_pending=True).count(),
        refresh_failures=Connection.objects.filter(refresh_failed_at__gte=since).count(),
        webhook_failures=WebhookDelivery.objects.filter(modified_at__gte=since)
        .exclude(last_error="")
        .exclude(status=WebhookDelivery.Status.DELIVERED)
        .count(),
        since=since,
    )


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # "audit", "webhook", "refresh", "health"
    title: str
    detail: str = ""
    actor: str = ""
    link: str = ""
    tone: str = "neutral"  # neutral, good, bad
    extra: dict = field(default_factory=dict)


def connection_timeline(*, connection: Connection, limit: int = 50) -> list[TimelineEntry]:
    """Audit events, webhook deliveries and the token/health state of one connection, newest first."""
    entries = [
        TimelineEntry(
            at=event.created_at,
            kind="audit",
            title=event.action,
            actor=event.actor,
            detail=", ".join(f"{k}: {v}" for k, v in sorted(event.data.items())),
            extra={"ip": event.ip_address or ""},
        )
        for event in AuditEvent.objects.filter(target_type="connection", target_id=connection.pk)[:limit]
    ]
    entries += [
        TimelineEntry(
            at=delivery.created_at,
            kind="webhook",
            title=f"webhook {delivery.event_type}",
            detail=_delivery_detail(delivery),
            link=delivery.pk,
            tone="good"
            if delivery.status == WebhookDelivery.Status.DELIVERED
            else "bad"
            if delivery.last_error
            else "neutral",
        )
        for delivery in WebhookDelivery.objects.filter(
            application_id=connection.application_id, payload__data__connection_id=connection.pk
        )[:limit]
    ]
    if connection.last_refreshed_at:
        entries.append(
            TimelineEntry(at=connection.last_refreshed_at, kind="refresh", title="token refreshed", tone="good")
        )
    if connection.refresh_failed_at:
        entries.append(
            TimelineEntry(
                at=connection.refresh_failed_at,
                kind="refresh",
                title="token refresh failed",
                detail=f"{connection.refresh_failure_count} failure(s) in a row",
                tone="bad",
            )
        )
    if connection.health_checked_at:
        entries.append(
            TimelineEntry(
                at=connection.health_checked_at,
                kind="health",
                title=f"health: {connection.health_status_code}",
                detail=connection.health_message,
                tone=_status_tone(connection.status),
            )
        )
    return sorted(entries, key=lambda entry: entry.at, reverse=True)[:limit]


def _status_tone(status: str) -> str:
    if status == Connection.Status.HEALTHY:
        return "good"
    return "bad" if status in FAILING_STATUSES else "neutral"


def _delivery_detail(delivery: WebhookDelivery) -> str:
    status = delivery.last_response_status or delivery.last_error or "not sent yet"
    latency = f", {delivery.last_latency_ms} ms" if delivery.last_latency_ms is not None else ""
    return f"{delivery.get_status_display()} · attempt {delivery.attempts} · {status}{latency}"
