from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

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


@never_cache
@require_GET
def healthz(request):
    database_ok, database_detail = _database_ok()
    broker_ok, broker_detail = _broker_ok()
    healthy = database_ok and broker_ok
    return JsonResponse(
        {
            "status": "ok" if healthy else "unhealthy",
            "checks": {"database": database_detail, "broker": broker_detail},
        },
        status=200 if healthy else 503,
    )
