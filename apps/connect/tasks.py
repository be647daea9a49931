"""Celery entry points for the connect flow: housekeeping of its short-lived rows."""

import logging

from celery import shared_task

from apps.connect.services import connect_rows_purge_expired

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def purge_expired_attempts() -> dict[str, int]:
    deleted = connect_rows_purge_expired()
    logger.info("Purged expired connect rows: %s", deleted)
    return deleted
