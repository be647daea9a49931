from django.db import models
from oauth2_provider.settings import oauth2_settings

from apps.catalog.schema import SANDBOX_REFRESH_GRACE
from apps.core.models import TimeStampedModel, prefixed_id_field
from apps.vault.fields import EncryptedJSONField


class Provider(TimeStampedModel):
    """A third-party service from the catalog. `definition` is the validated YAML; columns are for queries."""

    class AuthType(models.TextChoices):
        OAUTH2 = "oauth2", "OAuth 2.0"
        OAUTH2_CLIENT_CREDENTIALS = "oauth2_client_credentials", "OAuth 2.0 client credentials"
        API_KEY = "api_key", "API key"
        BASIC = "basic", "Username and password"

    class Stage(models.TextChoices):
        ALPHA = "alpha", "Alpha"
        BETA = "beta", "Beta"
        GA = "ga", "Generally available"

    name = models.SlugField(max_length=63, unique=True)
    display_name = models.CharField(max_length=200)
    auth_type = models.CharField(max_length=32, choices=AuthType.choices)
    categories = models.JSONField(default=list)
    category_index = models.CharField(
        max_length=300, default="", editable=False, help_text="',crm,accounting,' so any database can filter."
    )
    stage = models.CharField(max_length=8, choices=Stage.choices, default=Stage.GA)
    is_enabled = models.BooleanField("enabled", default=True, help_text="False when its catalog file was removed.")
    definition = models.JSONField()
    source_file = models.CharField(max_length=500)
    content_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name

    def save(self, *args, **kwargs):
        self.category_index = "," + ",".join(self.categories) + ","
        if kwargs.get("update_fields") is not None and "categories" in kwargs["update_fields"]:
            kwargs["update_fields"] = [*kwargs["update_fields"], "category_index"]
        super().save(*args, **kwargs)

    @property
    def settings_spec(self) -> list[dict]:
        return self.definition.get("settings", [])

    @property
    def required_setting_names(self) -> list[str]:
        return [s["name"] for s in self.settings_spec if s["required"]]

    @property
    def verifies_credentials(self) -> bool:
        """Without a verification request its connections are "unverified", never "healthy"."""
        return bool(self.definition.get("verification"))

    @property
    def oauth(self) -> dict:
        return self.definition.get("oauth") or {}

    @property
    def refresh_token_reuse_seconds(self) -> int:
        """How long the provider still accepts a refresh token after rotating it; for the sandbox, the grace
        its own token endpoint (django-oauth-toolkit) enforces at this moment."""
        seconds: int | str = (self.oauth.get("token_quirks") or {}).get("refresh_token_reuse_seconds", 0)
        if seconds == SANDBOX_REFRESH_GRACE:
            return int(oauth2_settings.REFRESH_TOKEN_GRACE_PERIOD_SECONDS)
        return int(seconds)

    @property
    def scopes(self) -> list[dict]:
        return self.definition.get("scopes", [])

    def scopes_of_kind(self, *kinds: str) -> list[str]:
        return [s["scope"] for s in self.scopes if s["kind"] in kinds]

    @property
    def logo_url(self) -> str:
        from django.urls import reverse

        return reverse("catalog:logo", args=[self.name])


class ConnectorConfig(TimeStampedModel):
    """One application's use of one provider: its OAuth client, scopes and default settings."""

    id = prefixed_id_field("ccfg")
    application = models.ForeignKey("tenants.Application", on_delete=models.CASCADE, related_name="connector_configs")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="connector_configs")
    is_enabled = models.BooleanField("enabled", default=True)
    client_id = models.CharField("client ID", max_length=500, blank=True)
    client_secret = EncryptedJSONField(help_text="{'client_secret': …}; write-only everywhere.")
    scopes = models.JSONField(default=list, blank=True, help_text="Scopes to request; empty = provider defaults.")
    default_settings = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["application", "provider"], name="connector_config_unique_provider")
        ]

    def __str__(self) -> str:
        return f"{self.provider} for {self.application}"

    @property
    def secret_value(self) -> str:
        return (self.client_secret or {}).get("client_secret", "")

    @property
    def has_client_secret(self) -> bool:
        return bool(self.__dict__.get("client_secret"))

    def requested_scopes(self) -> list[str]:
        required = self.provider.scopes_of_kind("required")
        chosen = self.scopes or self.provider.scopes_of_kind("default")
        return list(dict.fromkeys([*required, *chosen]))
