"""/healthz: `ok`, `degraded` (the database works, so pages, the portal and the API answer, but the broker,
the cache or the worker does not: background refreshes or rate limiting are affected) or `unhealthy`
(the database is down; 503)."""

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.ops.worker_health import worker_last_task_age
from config.celery import app as celery_app


def _database_ok() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True, "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy; the class name says which
        return False, type(exc).__name__


def _broker_ok() -> tuple[bool, str]:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True, "ok"
    except Exception as exc:  # noqa: BLE001
        return False, type(exc).__name__


def _cache_ok() -> tuple[bool, str]:
    try:
        cache.set("patchbay:healthz", 1, timeout=10)
        return True, "ok"
    except Exception as exc:  # noqa: BLE001
        return False, type(exc).__name__


def _worker_ok() -> tuple[bool, str]:
    """A worker takes the beat's refresh sweep every minute; none taken for too long means it is stuck."""
    try:
        age = worker_last_task_age()
    except Exception as exc:  # noqa: BLE001 - the heartbeat lives in the cache
        return False, f"unknown ({type(exc).__name__})"
    if age is None:
        return True, "no task taken yet"
    if age > settings.PATCHBAY_WORKER_STALE_SECONDS:
        return False, f"no task taken for {int(age)}s"
    return True, "ok"


@never_cache
@require_GET
def healthz(request):
    database_ok, database_detail = _database_ok()
    broker_ok, broker_detail = _broker_ok()
    cache_ok, cache_detail = _cache_ok()
    worker_ok, worker_detail = _worker_ok()
    if not database_ok:
        status = "unhealthy"
    elif not (broker_ok and cache_ok and worker_ok):
        status = "degraded"
    else:
        status = "ok"
    return JsonResponse(
        {
            "status": status,
            "checks": {
                "database": database_detail,
                "broker": broker_detail,
                "cache": cache_detail,
                "worker": worker_detail,
            },
        },
        status=503 if status == "unhealthy" else 200,
    )
