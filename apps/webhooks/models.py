from django.db import models

from apps.core.models import TimeStampedModel, prefixed_id_field


class WebhookDelivery(TimeStampedModel):
    """One event for one application's webhook URL, signed and retried with backoff until delivered."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    id = prefixed_id_field("whd")
    application = models.ForeignKey("tenants.Application", on_delete=models.CASCADE, related_name="webhook_deliveries")
    event_type = models.CharField(max_length=100)
    payload = models.JSONField()
    url = models.URLField(max_length=500)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.url}"
