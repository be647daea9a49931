"""Native v1 request/response schemas and the presenters that turn model rows into them.

Presenters return plain dicts (one per row, no queries: every relation they touch is loaded by the
selector). A single object goes out through ninja, which validates it against its schema; a list page is
serialised as it is (v1/common.render, for speed), so the tests check that it matches (schemathesis over
every operation, the compat shapes against the reference docs).
"""

from datetime import datetime
from enum import StrEnum
from types import SimpleNamespace
from typing import Annotated, Any, Literal

from django.conf import settings
from ninja import Field, Schema
from pydantic import BaseModel, PlainSerializer

from apps.api.row_fields import customer_external_id_of, has_credentials_of, models_of
from apps.catalog.models import ConnectorConfig, Provider
from apps.connect.links import authorization_url
from apps.connections.models import Connection, ConnectionModel, SyncRun
from apps.connections.selectors import ConnectionRow
from apps.core.timestamps import format_optional_timestamp, format_timestamp
from apps.tenants.models import Application, Customer


class RefreshPolicy(StrEnum):
    NONE = "none"
    FORCE = "force"
    AUTO = "auto"


class Expand(StrEnum):
    PROVIDER = "provider"
    CONNECTOR = "connector"


ConnectionStatus = Literal["healthy", "unverified", "disconnected", "error", "manual", "unknown"]
AuthType = Literal["oauth2", "oauth2_client_credentials", "api_key", "basic"]


# Every instant on the wire: RFC 3339 UTC with millisecond precision (apps/core/timestamps.py).
Timestamp = Annotated[datetime, PlainSerializer(format_timestamp, return_type=str)]


class Out(BaseModel):
    """Base of every response schema: plain pydantic, validated straight from the presenters' dicts.

    (ninja's Schema wraps each nested object in a DjangoGetter first, which cost more than the whole
    database round trip on a page of 100 connections.)
    """


def absolute(path: str) -> str:
    return settings.PATCHBAY_BASE_URL + path


# --- customers ---------------------------------------------------------------------------------------


class CustomerIn(Schema):
    external_id: str = Field(..., min_length=1, max_length=200, description="Your id for this customer.")
    name: str = Field("", max_length=200)
    email: str = Field("", max_length=254)
    metadata: dict[str, Any] = Field(default_factory=dict)


class CustomerOut(Out):
    id: str
    external_id: str
    name: str
    email: str
    metadata: dict[str, Any]
    created_at: Timestamp
    modified_at: Timestamp


class CustomerPage(Out):
    items: list[CustomerOut]
    next_cursor: str | None


def present_customer(customer: Customer) -> dict:
    return {
        "id": customer.pk,
        "external_id": customer.external_id,
        "name": customer.name,
        "email": customer.email,
        "metadata": customer.metadata or {},
        "created_at": format_optional_timestamp(customer.created_at),
        "modified_at": format_optional_timestamp(customer.modified_at),
    }


class CustomerTokenIn(Schema):
    ttl_seconds: int = Field(3600, ge=60, le=86400, description="Lifetime; at most 24 hours.")


class CustomerTokenOut(Out):
    id: str = Field(..., description="Revoke with DELETE /api/v1/customer-tokens/{id}.")
    token: str = Field(..., description="Shown once. Send as `Authorization: Bearer <token>`.")
    customer_id: str
    expires_at: Timestamp


# --- the application ----------------------------------------------------------------------------------


class ApplicationOut(Out):
    id: str
    name: str
    slug: str
    allowed_origins: list[str] = Field(
        ..., description="Exact origins (scheme://host[:port]) that may embed the connect widget."
    )
    webhook_url: str


class ApplicationPatchIn(Schema):
    allowed_origins: list[str] | None = Field(
        None, max_length=50, description="Replaces the list. Exact origins like https://app.example.com."
    )
    webhook_url: str | None = Field(None, max_length=500, description="Empty string turns webhooks off.")


def present_application(application: Application) -> dict:
    return {
        "id": application.pk,
        "name": application.name,
        "slug": application.slug,
        "allowed_origins": list(application.allowed_origins or []),
        "webhook_url": application.webhook_url,
    }


# --- connect sessions ----------------------------------------------------------------------------------


class ConnectSessionIn(Schema):
    customer_id: str = Field(..., min_length=1, max_length=200, description="Your external id for the customer.")
    customer_name: str = Field("", max_length=200, description="Used when the customer is created on the fly.")
    allowed_providers: list[str] = Field(default_factory=list, description="Empty = every enabled provider.")
    allowed_origin: str = Field("", max_length=300)
    return_url: str = Field("", max_length=1000)
    ttl_seconds: int = Field(1800, ge=60, le=86400)


class ConnectSessionOut(Out):
    id: str
    token: str = Field(..., description="Shown once. Pass it to the connect widget or open `url`.")
    url: str
    customer_id: str
    allowed_providers: list[str]
    expires_at: Timestamp


# --- providers ---------------------------------------------------------------------------------------


class ProviderScopeOut(Out):
    scope: str
    kind: Literal["required", "default", "optional"]
    display_name: str
    description: str


class ProviderSettingOut(Out):
    name: str
    type: str
    label: str
    help: str
    required: bool
    pattern: str | None
    enum: list[str] | None
    example: Any = None


class CredentialFieldOut(Out):
    name: str
    label: str
    help: str
    secret: bool


class ProviderOut(Out):
    name: str
    display_name: str
    auth_type: AuthType
    categories: list[str]
    stage: Literal["alpha", "beta", "ga"]
    description: str
    short_description: str
    website: str
    documentation_url: str | None
    connection_guide_url: str | None
    connection_instructions: list[str]
    color: str
    logo_url: str
    platforms: list[str]
    is_webhooks_supported: bool
    is_manual_sync_supported: bool
    verifies_credentials: bool = Field(
        description='False: connections are "unverified" because the provider has no request to check them.'
    )
    sources: list[str]
    scopes: list[ProviderScopeOut]
    settings: list[ProviderSettingOut]
    credential_fields: list[CredentialFieldOut]


def present_provider(provider: Provider) -> dict:
    d = provider.definition
    return {
        "name": provider.name,
        "display_name": provider.display_name,
        "auth_type": provider.auth_type,
        "categories": list(provider.categories),
        "stage": provider.stage,
        "description": d.get("description", ""),
        "short_description": d.get("short_description", ""),
        "website": d.get("website", ""),
        "documentation_url": d.get("documentation_url"),
        "connection_guide_url": d.get("connection_guide_url"),
        "connection_instructions": d.get("connection_instructions", []),
        "color": d.get("color", ""),
        "logo_url": absolute(provider.logo_url),
        "platforms": d.get("platforms", ["web"]),
        "is_webhooks_supported": d.get("is_webhooks_supported", False),
        "is_manual_sync_supported": d.get("is_manual_sync_supported", False),
        "verifies_credentials": provider.verifies_credentials,
        "sources": d.get("sources", []),
        "scopes": provider.scopes,
        "settings": [{k: s.get(k) for k in ProviderSettingOut.model_fields} for s in provider.settings_spec],
        "credential_fields": [
            {"name": f["name"], "label": f["label"], "help": f.get("help", ""), "secret": f.get("secret", True)}
            for f in ((d.get("credentials") or {}).get("fields") or [])
        ],
    }


# --- connector configs -------------------------------------------------------------------------------


class ConnectorConfigIn(Schema):
    provider: str = Field(..., description="Provider name from the catalog, e.g. hubspot.")
    client_id: str = Field("", max_length=500)
    client_secret: str | None = Field(None, description="Write-only. Never returned; see has_client_secret.")
    scopes: list[str] = Field(default_factory=list)
    default_settings: dict[str, Any] = Field(default_factory=dict)
    is_enabled: bool = True


class ConnectorConfigPatch(Schema):
    client_id: str | None = Field(None, max_length=500)
    client_secret: str | None = Field(None, description="Write-only. Never returned; see has_client_secret.")
    scopes: list[str] | None = None
    default_settings: dict[str, Any] | None = None
    is_enabled: bool | None = None


class ConnectorConfigOut(Out):
    id: str
    provider: str
    is_enabled: bool
    client_id: str
    has_client_secret: bool
    scopes: list[str]
    default_settings: dict[str, Any]
    created_at: Timestamp
    modified_at: Timestamp


def present_connector_config(config: ConnectorConfig, *, provider: Provider | None = None) -> dict:
    """Pass `provider` when the caller already holds it, so no query is spent loading it again."""
    return {
        "id": config.pk,
        "provider": (provider or config.provider).name,
        "is_enabled": config.is_enabled,
        "client_id": config.client_id,
        "has_client_secret": config.has_client_secret,
        "scopes": list(config.scopes or []),
        "default_settings": config.default_settings or {},
        "created_at": format_optional_timestamp(config.created_at),
        "modified_at": format_optional_timestamp(config.modified_at),
    }


# --- connections -------------------------------------------------------------------------------------


class HealthOut(Out):
    healthy: bool
    status_code: str
    message: str | None
    suggested_resolution: str | None
    authentication_required: bool
    checked_at: Timestamp | None


class SyncRunOut(Out):
    id: str
    status: Literal["scheduled", "running", "succeeded", "failed"]
    attempt: int
    started_at: Timestamp | None
    completed_at: Timestamp | None
    error: str | None


class ConnectionModelOut(Out):
    id: str
    name: str
    display_name: str
    is_read_enabled: bool
    is_write_enabled: bool
    next_sync_at: Timestamp | None
    last_sync: SyncRunOut | None


class ConnectionOut(Out):
    id: str
    customer_id: str = Field(..., description="Your external id for the customer.")
    provider_name: str
    connector_config_id: str | None
    display_name: str
    status: ConnectionStatus
    status_message: str
    is_authentication_pending: bool
    is_running_setup: bool
    is_sync_disabled: bool
    disabled: bool
    requires_setup: bool
    is_configured: bool
    is_healthy: bool
    missing_settings: list[str]
    authorization_url: str | None = Field(..., description="Patchbay URL that starts the provider consent.")
    settings: dict[str, Any]
    metadata: dict[str, Any]
    scopes_granted: list[str]
    has_credentials: bool
    credentials_expires_at: Timestamp | None
    last_refreshed_at: Timestamp | None
    health: HealthOut
    models: list[ConnectionModelOut]
    next_sync_at: Timestamp | None
    created_at: Timestamp
    modified_at: Timestamp
    provider: ProviderOut | None = Field(None, description="Only with expand=provider.")
    connector_config: ConnectorConfigOut | None = Field(None, description="Only with expand=connector.")
    credentials: dict[str, Any] | None = Field(
        None, description="Only with include_secrets=true (audit-logged). Absent otherwise."
    )


class ConnectionPage(Out):
    items: list[ConnectionOut]
    next_cursor: str | None = Field(..., description="Pass as `cursor` to get the next page; null on the last.")


class ConnectionCreateIn(Schema):
    customer_id: str = Field(..., min_length=1, max_length=200, description="Your external id for the customer.")
    provider: str
    display_name: str = Field("", max_length=200)
    settings: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    credentials: dict[str, str] | None = Field(
        None, description="API-key / basic providers only: the credential fields. Verified before saving."
    )


class ConnectionPatchIn(Schema):
    display_name: str | None = Field(None, max_length=200)
    settings: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = Field(None, description="Shallow-merged; a null value deletes that key.")
    is_sync_disabled: bool | None = None


def _present_sync_run(run: SyncRun | SimpleNamespace | None) -> dict | None:
    if run is None:
        return None
    return {
        "id": run.pk,
        "status": run.status,
        "attempt": run.attempt,
        "started_at": format_optional_timestamp(run.started_at),
        "completed_at": format_optional_timestamp(run.completed_at),
        "error": run.error,
    }


def _present_model(model: ConnectionModel | SimpleNamespace) -> dict:
    return {
        "id": model.pk,
        "name": model.name,
        "display_name": model.display_name,
        "is_read_enabled": model.is_read_enabled,
        "is_write_enabled": model.is_write_enabled,
        "next_sync_at": format_optional_timestamp(model.next_sync_at),
        "last_sync": _present_sync_run(model.last_sync),
    }


def present_connection(
    connection: Connection | ConnectionRow, *, include_secrets: bool = False, expand: frozenset[str] = frozenset()
) -> dict:
    """Without include_secrets the dict has no credentials key at all (not even null)."""
    lifecycle = connection.lifecycle
    data = {
        "id": connection.pk,
        "customer_id": customer_external_id_of(connection),
        "provider_name": connection.provider.name,
        "connector_config_id": connection.connector_config_id,
        "display_name": connection.display_name,
        "status": connection.status,
        "status_message": connection.status_message,
        "is_authentication_pending": connection.is_authentication_pending,
        "is_running_setup": connection.is_running_setup,
        "is_sync_disabled": connection.is_sync_disabled,
        "disabled": connection.disabled,
        "requires_setup": lifecycle.requires_setup,
        "is_configured": lifecycle.is_configured,
        "is_healthy": lifecycle.is_healthy,
        "missing_settings": lifecycle.missing_settings,
        "authorization_url": authorization_url(connection),
        "settings": connection.settings or {},
        "metadata": connection.metadata or {},
        "scopes_granted": list(connection.scopes_granted or []),
        "has_credentials": has_credentials_of(connection),
        "credentials_expires_at": format_optional_timestamp(connection.credentials_expires_at),
        "last_refreshed_at": format_optional_timestamp(connection.last_refreshed_at),
        "health": {
            "healthy": lifecycle.is_healthy,
            "status_code": connection.health_status_code,
            "message": connection.health_message or None,
            "suggested_resolution": connection.health_suggested_resolution or None,
            "authentication_required": connection.health_authentication_required,
            "checked_at": format_optional_timestamp(connection.health_checked_at),
        },
        "models": [_present_model(m) for m in models_of(connection)],
        "next_sync_at": format_optional_timestamp(connection.next_sync_at),
        "created_at": format_optional_timestamp(connection.created_at),
        "modified_at": format_optional_timestamp(connection.modified_at),
    }
    if Expand.PROVIDER in expand:
        data["provider"] = present_provider(connection.provider)
    if Expand.CONNECTOR in expand:
        config = connection.connector_config
        data["connector_config"] = (
            present_connector_config(config, provider=connection.provider) if config is not None else None
        )
    if include_secrets:
        data["credentials"] = connection.credentials or {}
    return data
