from django.db import models

from apps.core.models import prefixed_id_field


class AuditEvent(models.Model):
    """Who did what to which object. Never holds a secret: `data` is written by services only."""

    id = prefixed_id_field("evt")
    application = models.ForeignKey(
        "tenants.Application", on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_events"
    )
    actor = models.CharField(max_length=200, help_text="api_key:<id>, staff:<username>, customer:<id> or system")
    action = models.CharField(max_length=100, db_index=True)
    target_type = models.CharField(max_length=50)
    target_id = models.CharField("target ID", max_length=40, db_index=True)
    data = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(
        "IP address", null=True, blank=True, help_text="The client address of the request that caused it."
    )
    created_at = models.DateTimeField("when", auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "audit event"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["application", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type}:{self.target_id}"
