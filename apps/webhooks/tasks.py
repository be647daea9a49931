from celery import shared_task

from apps.webhooks.services import DELIVER_TASK, webhook_deliver, webhook_due_ids


@shared_task(name=DELIVER_TASK, ignore_result=True)
def deliver_webhook(delivery_id: str) -> None:
    webhook_deliver(delivery_id=delivery_id)


@shared_task(ignore_result=True)
def deliver_due_webhooks() -> int:
    ids = webhook_due_ids()
    for delivery_id in ids:
        deliver_webhook.delay(delivery_id)
    return len(ids)
