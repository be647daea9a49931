"""Celery entry points. A task takes ids (or nothing) and calls one service; the periodic sweeps read the
due ids with one selector and queue a task per id or per batch of ids."""

from datetime import timedelta

from celery import Task, shared_task
from django.utils import timezone

from apps.connections import services
from apps.connections.exceptions import ConnectError, InvalidGrant, RefreshInProgress, RefreshInterrupted
from apps.connections.models import RefreshEvent
from apps.connections.selectors import connection_ids_for_health_check, connection_ids_needing_refresh

HEALTH_CHECK_INTERVAL = timedelta(hours=6)


@shared_task(bind=True, max_retries=services.REFRESH_FAILURE_BUDGET, ignore_result=True)
def refresh_connection_credentials(self: Task, connection_id: str) -> None:
    """Never waits on another refresh (it retries when that one's lease ends); retryable failures come
    back when the connection's jittered backoff (or the provider's Retry-After) has passed."""
    try:
        services.connection_refresh_credentials(
            connection_id=connection_id, wait_seconds=0, trigger=RefreshEvent.Trigger.SWEEP
        )
    except (InvalidGrant, RefreshInterrupted):
        return  # recorded on the connection and announced by webhook; retrying cannot help
    except RefreshInProgress as exc:
        raise self.retry(countdown=exc.retry_after) from None
    except ConnectError:
        raise self.retry(countdown=services.refresh_retry_countdown(connection_id=connection_id)) from None


@shared_task(ignore_result=True)
def refresh_expiring_credentials() -> int:
    """Hand the due connections out in batches; a failed refresh comes back once its backoff is due."""
    ids = list(connection_ids_needing_refresh(now=timezone.now()))
    for start in range(0, len(ids), services.REFRESH_BATCH_SIZE):
        refresh_connections_batch.delay(ids[start : start + services.REFRESH_BATCH_SIZE])
    return len(ids)


@shared_task(ignore_result=True)
def refresh_connections_batch(connection_ids: list[str]) -> int:
    return services.connection_refresh_batch(connection_ids=connection_ids)


@shared_task(ignore_result=True)
def purge_old_refresh_events() -> int:
    return services.refresh_events_purge_old()


@shared_task(ignore_result=True)
def check_connection_health(connection_id: str) -> None:
    services.connection_check_health(connection_id=connection_id)


@shared_task(ignore_result=True)
def check_stale_connection_health() -> int:
    ids = list(connection_ids_for_health_check(checked_before=timezone.now() - HEALTH_CHECK_INTERVAL)[:500])
    for connection_id in ids:
        check_connection_health.delay(connection_id)
    return len(ids)
