"""What the console reads across apps: the overview and a connection's timeline. Query counts are fixed."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q

from apps.audit.models import AuditEvent
from apps.connections.models import Connection, RefreshEvent
from apps.webhooks.models import WebhookDelivery

FAILING_STATUSES = [Connection.Status.ERROR, Connection.Status.DISCONNECTED]
RECENT = timedelta(hours=24)
FAILING_SHOWN = 15
PROVIDERS_SHOWN = 10


@dataclass(frozen=True)
class Dashboard:
    total: int
    by_status: list[tuple[str, str, int]]  # (status value, label, count), failing statuses first
    by_provider: list[Mapping[str, Any]]  # provider_id, provider__display_name, provider__name, n, failing
    failing: list[Connection]
    failing_total: int
    pending_total: int
    refresh_failures: int  # failed token requests (failed, revoked, interrupted) in the last 24 h
    refresh_failing_connections: int  # how many connections those were
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
        **_refresh_failures_since(since),
        webhook_failures=WebhookDelivery.objects.filter(modified_at__gte=since)
        .exclude(last_error="")
        .exclude(status=WebhookDelivery.Status.DELIVERED)
        .count(),
        since=since,
    )


def _refresh_failures_since(since: datetime) -> dict[str, int]:
    return (
        RefreshEvent.objects.filter(finished_at__gte=since)
        .exclude(outcome=RefreshEvent.Outcome.REFRESHED)
        .aggregate(refresh_failures=Count("id"), refresh_failing_connections=Count("connection_id", distinct=True))
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


REFRESH_TITLES: dict[str, str] = {
    RefreshEvent.Outcome.REFRESHED: "token refreshed",
    RefreshEvent.Outcome.FAILED: "token refresh failed",
    RefreshEvent.Outcome.REVOKED: "refresh token revoked (invalid_grant)",
    RefreshEvent.Outcome.INTERRUPTED: "token refresh interrupted",
}


def connection_timeline(*, connection: Connection, limit: int = 50) -> list[TimelineEntry]:
    """Audit events, token refreshes, webhook deliveries and the last health check of one connection,
    newest first: at most `limit` of each kind read (three queries), then merged and cut to `limit`."""
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
            at=refresh.finished_at,
            kind="refresh",
            title=REFRESH_TITLES[refresh.outcome],
            detail=_refresh_detail(refresh),
            actor=refresh.get_trigger_display(),
            tone="good" if refresh.outcome == RefreshEvent.Outcome.REFRESHED else "bad",
        )
        for refresh in RefreshEvent.objects.filter(application_id=connection.application_id, connection=connection)[
            :limit
        ]
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


def _refresh_detail(refresh: RefreshEvent) -> str:
    parts = [f"{refresh.duration_ms} ms"]
    if refresh.is_resend:
        parts.append("resent after a lost answer")
    if refresh.error_code:
        parts.append(f"{refresh.error_code}: {refresh.message}")
    return " · ".join(parts)


def _status_tone(status: str) -> str:
    if status == Connection.Status.HEALTHY:
        return "good"
    return "bad" if status in FAILING_STATUSES else "neutral"


def _delivery_detail(delivery: WebhookDelivery) -> str:
    status = delivery.last_response_status or delivery.last_error or "not sent yet"
    latency = f", {delivery.last_latency_ms} ms" if delivery.last_latency_ms is not None else ""
    return f"{delivery.get_status_display()} · attempt {delivery.attempts} · {status}{latency}"
