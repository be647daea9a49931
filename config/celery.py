"""Celery app. Beat's schedule is static and lives here (django-celery-beat does not support Django 6.1)."""

import logging
import os

from celery import Celery
from celery.schedules import crontab
from celery.signals import task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("patchbay")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    result_serializer="json",
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    task_ignore_result=True,
)


@app.on_after_configure.connect
def _configure_filesystem_broker(sender, **kwargs):
    """The embedded default broker keeps its queue as files under var/broker/."""
    from django.conf import settings

    if str(sender.conf.broker_url).startswith("filesystem://"):
        folder = settings.CELERY_FILESYSTEM_DIR
        for sub in ("queue", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        sender.conf.broker_transport_options = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
        }


app.conf.beat_schedule = {
    "refresh-expiring-credentials": {
        "task": "apps.connections.tasks.refresh_expiring_credentials",
        "schedule": 60.0,
    },
    "check-connection-health": {
        "task": "apps.connections.tasks.check_stale_connection_health",
        "schedule": crontab(minute="*/15"),
    },
    "deliver-due-webhooks": {
        "task": "apps.webhooks.tasks.deliver_due_webhooks",
        "schedule": 30.0,
    },
    "purge-expired-connect-rows": {
        "task": "apps.connect.tasks.purge_expired_attempts",
        "schedule": crontab(minute=7),
    },
    "purge-old-refresh-events": {
        "task": "apps.connections.tasks.purge_old_refresh_events",
        "schedule": crontab(minute=17),
    },
}
app.autodiscover_tasks()


@task_prerun.connect
def _record_task_taken(**kwargs):
    """The heartbeat /healthz reads; a cache outage must not fail the task itself."""
    from apps.ops.worker_health import worker_task_taken

    try:
        worker_task_taken()
    except Exception as exc:  # noqa: BLE001 - whatever the cache backend raises when unreachable
        logging.getLogger(__name__).warning("could not record the worker heartbeat (%s)", type(exc).__name__)
