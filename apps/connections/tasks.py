"""Celery entry points: take ids, call one service."""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from apps.connections import services
from apps.connections.exceptions import InvalidGrant, ProviderUnavailable
from apps.connections.selectors import connection_ids_for_health_check, connection_ids_needing_refresh

SWEEP_HORIZON = timedelta(minutes=10)
HEALTH_CHECK_INTERVAL = timedelta(hours=6)


@shared_task(
    autoretry_for=(ProviderUnavailable,),
    retry_backoff=2,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=services.REFRESH_FAILURE_BUDGET,
    ignore_result=True,
)
def refresh_connection_credentials(connection_id: str) -> None:
    try:
        services.connection_refresh_credentials(connection_id=connection_id)
    except InvalidGrant:
        return  # recorded on the connection and announced by webhook; retrying cannot help


@shared_task(ignore_result=True)
def refresh_expiring_credentials() -> int:
    ids = list(connection_ids_needing_refresh(horizon=timezone.now() + SWEEP_HORIZON))
    for connection_id in ids:
        refresh_connection_credentials.delay(connection_id)
    return len(ids)


@shared_task(ignore_result=True)
def check_connection_health(connection_id: str) -> None:
    services.connection_check_health(connection_id=connection_id)


@shared_task(ignore_result=True)
def check_stale_connection_health() -> int:
    ids = list(connection_ids_for_health_check(checked_before=timezone.now() - HEALTH_CHECK_INTERVAL)[:500])
    for connection_id in ids:
        check_connection_health.delay(connection_id)
    return len(ids)
