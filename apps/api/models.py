from django.db import models

from apps.core.models import TimeStampedModel, prefixed_id_field


class CustomerToken(TimeStampedModel):
    """A short-lived bearer token an application hands to its own frontend: it reads only one customer's
    connections and creates connect sessions for that customer. Only the SHA-256 of the token is stored."""

    id = prefixed_id_field("ctok")
    application = models.ForeignKey("tenants.Application", on_delete=models.CASCADE, related_name="customer_tokens")
    customer = models.ForeignKey("tenants.Customer", on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(db_index=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=200, help_text="The API key that minted it (api_key:<id>).")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.pk} ({self.customer_id})"
