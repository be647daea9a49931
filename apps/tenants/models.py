from django.core.validators import RegexValidator
from django.db import models

from apps.core.models import TimeStampedModel, prefixed_id_field
from apps.vault.fields import EncryptedJSONField


class Application(TimeStampedModel):
    """A software company using Patchbay: the tenant every other row belongs to."""

    id = prefixed_id_field("app")
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    allowed_origins = models.JSONField(
        default=list,
        blank=True,
        help_text="Exact origins (scheme://host[:port]) that may embed the widget and receive redirects.",
    )
    webhook_url = models.URLField("webhook URL", max_length=500, blank=True)
    webhook_secret = EncryptedJSONField(help_text="Signing secret for outbound webhooks.")
    brand_color = models.CharField(
        max_length=7,
        default="#4f46e5",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "Use a hex colour like #4f46e5.")],
    )
    logo_url = models.URLField("logo URL", max_length=500, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def is_origin_allowed(self, origin: str) -> bool:
        return bool(origin) and origin.rstrip("/") in {o.rstrip("/") for o in self.allowed_origins}


class ApiKey(TimeStampedModel):
    """An application's secret API key. Only the SHA-256 of the key is stored; `prefix` is for display."""

    id = prefixed_id_field("key")
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, default="Default")
    prefix = models.CharField(max_length=20, help_text="First characters of the key, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Customer(TimeStampedModel):
    """One of the application's own customers; `external_id` is the application's id for it."""

    id = prefixed_id_field("cus")
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="customers")
    external_id = models.CharField("external ID", max_length=200)
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["application", "external_id"], name="customer_external_id_unique")
        ]

    def __str__(self) -> str:
        return self.name or self.external_id
