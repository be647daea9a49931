"""When a Celery worker last took a task, kept in the shared cache so /healthz (another process) can tell
a stuck worker from a busy one."""

import time

from django.core.cache import cache

LAST_TASK_KEY = "patchbay:worker:last-task-at"


def worker_task_taken() -> None:
    cache.set(LAST_TASK_KEY, time.time(), timeout=None)


def worker_last_task_age() -> float | None:
    """Seconds since any worker last took a task, or None if none has yet."""
    taken_at = cache.get(LAST_TASK_KEY)
    return None if taken_at is None else max(0.0, time.time() - taken_at)
