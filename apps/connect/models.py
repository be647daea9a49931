from django.db import models
from django.utils import timezone

from apps.core.models import TimeStampedModel, prefixed_id_field
from apps.vault.fields import EncryptedJSONField


class ConnectSession(TimeStampedModel):
    """A short-lived token an application's backend mints so one customer can open the connect UI."""

    id = prefixed_id_field("cs")
    application = models.ForeignKey("tenants.Application", on_delete=models.CASCADE, related_name="connect_sessions")
    customer = models.ForeignKey("tenants.Customer", on_delete=models.CASCADE, related_name="connect_sessions")
    token_hash = models.CharField(max_length=64, unique=True)
    allowed_providers = models.JSONField(default=list, blank=True, help_text="Empty = every enabled provider.")
    allowed_origin = models.CharField(max_length=300, blank=True)
    return_url = models.URLField("return URL", max_length=1000, blank=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    widget_origin = models.CharField(
        max_length=300, blank=True, help_text="The embedding page's origin, fixed when the widget redeemed the token."
    )
    widget_credential_hash = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    widget_credential_expires_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.id} for {self.customer_id}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()


class OAuthAttempt(TimeStampedModel):
    """Server-side state for one redirect to a provider: single use, 10 minutes."""

    id = prefixed_id_field("oat")
    connection = models.ForeignKey("connections.Connection", on_delete=models.CASCADE, related_name="oauth_attempts")
    provider = models.ForeignKey("catalog.Provider", on_delete=models.CASCADE, related_name="+")
    state_hash = models.CharField(max_length=64, unique=True)
    code_verifier = EncryptedJSONField()
    redirect_uri = models.URLField("redirect URI", max_length=500)
    return_url = models.URLField("return URL", max_length=1000, blank=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    failure_code = models.CharField(
        max_length=60, blank=True, help_text="Why the callback failed after claiming this attempt (consent_denied, …)."
    )

    class Meta:
        verbose_name = "OAuth attempt"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.id} ({self.connection_id})"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()
