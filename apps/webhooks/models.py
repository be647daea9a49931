from django.db import models

from apps.audit.services import audit_url
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
    url = models.URLField("URL", max_length=500)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField("attempt", default=0)
    next_attempt_at = models.DateTimeField("next retry", null=True, blank=True, db_index=True)
    lease_until = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Set while one worker sends this delivery."
    )
    last_response_status = models.PositiveSmallIntegerField("status code", null=True, blank=True)
    last_latency_ms = models.PositiveIntegerField("latency (ms)", null=True, blank=True)
    last_response_excerpt = models.CharField("response excerpt", max_length=500, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    resent_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="resends", editable=False
    )

    class Meta:
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.event_type} → {audit_url(self.url)}"  # shown in the console: no receiver's token
