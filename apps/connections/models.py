import uuid

from django.db import models
from django.utils import timezone

from apps.connections.lifecycle import Lifecycle, lifecycle_of_connection
from apps.core.ids import new_id
from apps.core.models import TimeStampedModel, prefixed_id_field
from apps.vault.fields import EncryptedJSONField


def new_connect_nonce() -> str:
    return new_id("n")[2:]


class Connection(TimeStampedModel):
    """One customer's account at one provider.

    `credentials` (vault-encrypted) holds the token response / API key. Everything else here is
    non-secret and safe to show. The lifecycle (missing settings, configured, requires setup, healthy) is
    derived, never stored: see apps/connections/lifecycle.py.
    """

    class Status(models.TextChoices):
        HEALTHY = "healthy"
        UNVERIFIED = "unverified"  # stored, but the provider has no verification request to prove it works
        DISCONNECTED = "disconnected"
        ERROR = "error"
        MANUAL = "manual"
        UNKNOWN = "unknown"

    id = prefixed_id_field("conn")
    application = models.ForeignKey("tenants.Application", on_delete=models.CASCADE, related_name="connections")
    customer = models.ForeignKey("tenants.Customer", on_delete=models.CASCADE, related_name="connections")
    provider = models.ForeignKey("catalog.Provider", on_delete=models.PROTECT, related_name="connections")
    connector_config = models.ForeignKey(
        "catalog.ConnectorConfig", on_delete=models.SET_NULL, null=True, blank=True, related_name="connections"
    )
    display_name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UNKNOWN, db_index=True)
    status_message = models.CharField(max_length=500, blank=True)

    is_authentication_pending = models.BooleanField(default=True)
    is_running_setup = models.BooleanField(default=False)
    is_sync_disabled = models.BooleanField(default=False)
    disabled = models.BooleanField(default=False)

    settings = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    credentials = EncryptedJSONField()
    credentials_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    scopes_granted = models.JSONField(default=list, blank=True)
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    refresh_lease_until = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Set while one worker refreshes the token; others wait."
    )
    refresh_failure_count = models.PositiveSmallIntegerField(default=0)
    refresh_due_at = models.DateTimeField(
        null=True, blank=True, db_index=True, editable=False, help_text="When the token is next refreshed."
    )
    refresh_started_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="A token request was sent and its answer is not saved yet."
    )
    refresh_failed_at = models.DateTimeField(null=True, blank=True, editable=False)

    health_status_code = models.CharField(max_length=40, default="unknown")
    health_message = models.CharField(max_length=500, blank=True)
    health_suggested_resolution = models.CharField(max_length=500, blank=True)
    health_authentication_required = models.BooleanField(default=False)
    health_checked_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(
        default=timezone.now, help_text="When the status last changed: how long it has been failing."
    )

    next_sync_at = models.DateTimeField(null=True, blank=True)
    connected_at = models.DateTimeField(
        null=True, blank=True, help_text="When the customer last finished connecting it (authenticated and configured)."
    )
    connect_nonce = models.CharField(
        max_length=40, default=new_connect_nonce, editable=False, help_text="Rotating it voids old connect links."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["application", "-created_at", "-id"], name="conn_app_created"),
            models.Index(fields=["application", "customer", "-created_at"], name="conn_app_customer"),
            models.Index(fields=["application", "provider", "-created_at"], name="conn_app_provider"),
        ]

    def __str__(self) -> str:
        return self.display_name or f"{self.provider} · {self.customer}"

    @property
    def lifecycle(self) -> Lifecycle:
        return lifecycle_of_connection(self)

    @property
    def missing_settings(self) -> list[str]:
        return self.lifecycle.missing_settings

    @property
    def is_configured(self) -> bool:
        return self.lifecycle.is_configured

    @property
    def requires_setup(self) -> bool:
        return self.lifecycle.requires_setup

    @property
    def has_credentials(self) -> bool:
        return bool(self.__dict__.get("credentials")) or bool(self.__dict__.get("_credentials_plaintext"))


class ConnectionModel(TimeStampedModel):
    """A data model (contacts, invoices, …) synced through a connection."""

    id = prefixed_id_field("cmod")
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="models")
    name = models.CharField(max_length=100)
    display_name = models.CharField(max_length=200)
    is_read_enabled = models.BooleanField("reads", default=True)
    is_write_enabled = models.BooleanField("writes", default=False)
    is_custom_object = models.BooleanField("custom object", default=False)
    is_file_upload_enabled = models.BooleanField("file uploads", default=False)
    is_webhooks_setup = models.BooleanField("provider webhooks set up", default=False)
    is_read_supported = models.BooleanField("provider supports reads", default=True)
    is_write_supported = models.BooleanField("provider supports writes", default=False)
    is_sync_supported = models.BooleanField("provider supports sync", default=True)
    next_sync_at = models.DateTimeField("next sync", null=True, blank=True)
    last_sync = models.ForeignKey(
        "SyncRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )

    class Meta:
        verbose_name = "synced model"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["connection", "name"], name="connection_model_unique_name")]

    def __str__(self) -> str:
        return self.display_name


class SyncRun(TimeStampedModel):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    id = prefixed_id_field("sync")
    model = models.ForeignKey(ConnectionModel, on_delete=models.CASCADE, related_name="sync_runs")
    connection = models.ForeignKey(
        Connection,
        on_delete=models.CASCADE,
        related_name="sync_runs",
        editable=False,
        help_text="The model's connection, stored so a connection's runs are one indexed read.",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    attempt = models.PositiveIntegerField(default=1)
    batch_id = models.UUIDField("batch ID", default=uuid.uuid4)
    entity_id = models.CharField("entity ID", max_length=100, blank=True, null=True)
    file_id = models.CharField("file ID", max_length=100, blank=True, null=True)
    error = models.TextField(blank=True, null=True)
    is_initial_sync = models.BooleanField("initial sync", default=False)
    is_one_off = models.BooleanField("one-off", default=False)
    pagination_state = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField("started", null=True, blank=True)
    completed_at = models.DateTimeField("completed", null=True, blank=True)
    timerange_start = models.DateTimeField("from", null=True, blank=True)
    timerange_end = models.DateTimeField("until", null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["connection", "-created_at"], name="sync_run_connection")]

    def __str__(self) -> str:
        return f"{self.get_status_display()} run {self.pk}"

    def save(self, *args, **kwargs):
        if self.connection_id is None:
            self.connection_id = self.model.connection_id
        super().save(*args, **kwargs)


class RefreshEvent(models.Model):
    """One token request a refresh sent, and how it ended: the history the console's timeline shows.

    Written in bulk by the refresh paths after the provider answered (one INSERT per batch), never inside
    a transaction that waits on the network. Holds no token: the error code and its safe message only.
    Kept REFRESH_EVENT_RETENTION (apps/connections/services.py), then purged hourly.
    """

    class Outcome(models.TextChoices):
        REFRESHED = "refreshed"
        FAILED = "failed"  # retried automatically after a backoff
        REVOKED = "revoked", "revoked (invalid_grant)"
        INTERRUPTED = "interrupted", "interrupted (outcome unknown, not resendable)"

    class Trigger(models.TextChoices):
        SWEEP = "sweep", "scheduled sweep"
        READ = "read", "read of a due token"
        FORCE = "force", "forced (API or portal)"
        ADMIN = "admin", "forced by staff"

    id = prefixed_id_field("rfev")
    application = models.ForeignKey("tenants.Application", on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="refresh_events")
    started_at = models.DateTimeField("started")
    finished_at = models.DateTimeField("finished", db_index=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    is_resend = models.BooleanField(
        "resend",
        default=False,
        help_text="The request repeated one whose answer was lost, with the same refresh token.",
    )
    error_code = models.CharField(max_length=60, blank=True)
    message = models.CharField(max_length=500, blank=True, help_text="The error's message safe to show; never a token.")

    class Meta:
        verbose_name = "token refresh"
        verbose_name_plural = "token refreshes"
        ordering = ["-finished_at", "-id"]
        indexes = [
            models.Index(fields=["connection", "-finished_at"], name="refresh_event_connection"),
            models.Index(fields=["application", "-finished_at"], name="refresh_event_app"),
        ]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} · {self.connection_id}"

    @property
    def duration_ms(self) -> int:
        return round((self.finished_at - self.started_at).total_seconds() * 1000)
