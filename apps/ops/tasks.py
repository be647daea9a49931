import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="patchbay.ping")
def ping() -> str:
    """A no-op task: `celery -A config call patchbay.ping` proves a worker consumes from the broker."""
    logger.info("pong")
    return "pong"
