"""Stuut-compatible `GET /v2/integrations/connections` (reference: stuut-list-connections.txt).

Stuut documents the Microsoft Dynamics Business Central variant of its connection object, whose BC
settings sit at the top level. To give every client one stable shape, every connection carries those
eight keys: Business Central connections fill them from their settings; other providers get null for
the string keys and false for the boolean ones. `object` values are ours (the doc only says "string"):
"integration_connection", "integration_connection_model" and "integration_sync".
"""

from functools import lru_cache
from types import SimpleNamespace
from typing import Any, Literal

from ninja import Field, Query, Router, Schema

from apps.api.auth import CUSTOMER_SCOPED
from apps.api.pagination import offset_page
from apps.api.row_fields import customer_external_id_of, models_of
from apps.api.v1.common import READ_ERRORS, connections_visible, render
from apps.api.v1.schemas import Out, Timestamp, absolute
from apps.catalog.models import Provider
from apps.connect.links import authorization_url
from apps.connections.models import Connection, ConnectionModel, SyncRun
from apps.connections.selectors import ConnectionRow, connection_page_rows
from apps.core.timestamps import format_optional_timestamp

router = Router(tags=["compat: stuut"])

MAX_ROWS = 1000
BC_STRING_SETTINGS = ("api_url", "company", "company_name", "environment", "tenant_id")
BC_BOOL_SETTINGS = ("include_dimension_lines", "is_bc_extension_installed", "is_on_premise")


class StuutHealth(Out):
    authentication_required: bool
    message: str | None
    healthy: bool
    status_code: str
    suggested_resolution: str | None
    timestamp: Timestamp | None


class StuutSyncRun(Out):
    created_at: Timestamp
    modified_at: Timestamp | None
    id: str
    status: Literal["scheduled", "running", "succeeded", "failed"]
    attempt: int
    batch_id: str
    completed_at: Timestamp | None
    entity_id: str | None
    error: str | None
    file_id: str | None
    is_initial_sync: bool
    is_one_off: bool
    model_id: str
    pagination_state: dict[str, Any]
    started_at: Timestamp | None
    timerange_end: Timestamp | None
    timerange_start: Timestamp | None
    object: str


class StuutModel(Out):
    created_at: Timestamp
    modified_at: Timestamp | None
    id: str
    name: str
    is_read_enabled: bool
    is_write_enabled: bool
    is_custom_object: bool
    is_file_upload_enabled: bool
    is_webhooks_setup: bool
    next_sync_at: Timestamp | None
    connection_id: str
    last_sync: StuutSyncRun | None
    object: str
    display_name: str
    is_read_supported: bool
    is_write_supported: bool
    is_sync_supported: bool


class StuutProvider(Out):
    name: str
    categories: list[str]
    display_name: str
    is_api_connection: bool
    is_webhooks_supported: bool
    auth_type: str
    color: str
    connection_guide_url: str | None
    connection_instructions: list[str]
    documentation_url: str | None
    description: str
    is_enabled: bool
    is_manual_sync_supported: bool
    logo: str
    logo_square: str
    required_settings: list[str]
    short_description: str
    website: str


class StuutConnection(Out):
    created_at: Timestamp
    modified_at: Timestamp | None
    id: str
    is_authentication_pending: bool
    is_running_setup: bool
    is_sync_disabled: bool
    health: StuutHealth
    models: list[StuutModel]
    next_sync_at: Timestamp | None
    name: str | None
    owner_id: str | None
    requires_setup: bool
    provider_name: str
    api_url: str | None
    company: str | None
    company_name: str | None
    environment: str | None
    include_dimension_lines: bool
    is_bc_extension_installed: bool
    is_on_premise: bool
    tenant_id: str | None
    object: str
    authorization_url: str | None
    provider: StuutProvider
    is_configured: bool
    missing_settings: list[str]
    is_healthy: bool
    linked_integration_id: str | None


def _sync_run(run: SyncRun | SimpleNamespace | None, model: ConnectionModel | SimpleNamespace) -> dict | None:
    if run is None:
        return None
    return {
        "created_at": format_optional_timestamp(run.created_at),
        "modified_at": format_optional_timestamp(run.modified_at),
        "id": run.pk,
        "status": run.status,
        "attempt": run.attempt,
        "batch_id": str(run.batch_id),
        "completed_at": format_optional_timestamp(run.completed_at),
        "entity_id": run.entity_id,
        "error": run.error,
        "file_id": run.file_id,
        "is_initial_sync": run.is_initial_sync,
        "is_one_off": run.is_one_off,
        "model_id": model.pk,
        "pagination_state": run.pagination_state or {},
        "started_at": format_optional_timestamp(run.started_at),
        "timerange_end": format_optional_timestamp(run.timerange_end),
        "timerange_start": format_optional_timestamp(run.timerange_start),
        "object": "integration_sync",
    }


def _model(model: ConnectionModel | SimpleNamespace) -> dict:
    return {
        "created_at": format_optional_timestamp(model.created_at),
        "modified_at": format_optional_timestamp(model.modified_at),
        "id": model.pk,
        "name": model.name,
        "is_read_enabled": model.is_read_enabled,
        "is_write_enabled": model.is_write_enabled,
        "is_custom_object": model.is_custom_object,
        "is_file_upload_enabled": model.is_file_upload_enabled,
        "is_webhooks_setup": model.is_webhooks_setup,
        "next_sync_at": format_optional_timestamp(model.next_sync_at),
        "connection_id": model.connection_id,
        "last_sync": _sync_run(model.last_sync, model),
        "object": "integration_connection_model",
        "display_name": model.display_name,
        "is_read_supported": model.is_read_supported,
        "is_write_supported": model.is_write_supported,
        "is_sync_supported": model.is_sync_supported,
    }


@lru_cache(maxsize=256)
def _provider_cached(provider: Provider, version) -> dict:
    d = provider.definition
    logo = absolute(provider.logo_url)
    return {
        "name": provider.name,
        "categories": list(provider.categories),
        "display_name": provider.display_name,
        "is_api_connection": provider.auth_type in {"api_key", "basic"},
        "is_webhooks_supported": d.get("is_webhooks_supported", False),
        "auth_type": provider.auth_type,
        "color": d.get("color", ""),
        "connection_guide_url": d.get("connection_guide_url"),
        "connection_instructions": d.get("connection_instructions", []),
        "documentation_url": d.get("documentation_url"),
        "description": d.get("description", ""),
        "is_enabled": provider.is_enabled,
        "is_manual_sync_supported": d.get("is_manual_sync_supported", False),
        "logo": logo,
        "logo_square": logo,
        "required_settings": provider.required_setting_names,
        "short_description": d.get("short_description", ""),
        "website": d.get("website", ""),
    }


def _provider(provider: Provider) -> dict:
    """The nested provider object; identical for every row of one provider, so built once per version."""
    return dict(_provider_cached(provider, (provider.pk, provider.modified_at)))


def _text_or_none(value) -> str | None:
    return None if value in (None, "") else str(value)


def present_stuut_connection(connection: Connection | ConnectionRow) -> dict:
    settings = connection.settings or {}
    lifecycle = connection.lifecycle
    data = {
        "created_at": format_optional_timestamp(connection.created_at),
        "modified_at": format_optional_timestamp(connection.modified_at),
        "id": connection.pk,
        "is_authentication_pending": connection.is_authentication_pending,
        "is_running_setup": connection.is_running_setup,
        "is_sync_disabled": connection.is_sync_disabled,
        "health": {
            "authentication_required": connection.health_authentication_required,
            "message": connection.health_message or None,
            "healthy": lifecycle.is_healthy,
            "status_code": connection.health_status_code,
            "suggested_resolution": connection.health_suggested_resolution or None,
            "timestamp": format_optional_timestamp(connection.health_checked_at),
        },
        "models": [_model(m) for m in models_of(connection)],
        "next_sync_at": format_optional_timestamp(connection.next_sync_at),
        "name": connection.display_name or None,
        "owner_id": customer_external_id_of(connection),
        "requires_setup": lifecycle.requires_setup,
        "provider_name": connection.provider.name,
        "object": "integration_connection",
        "authorization_url": authorization_url(connection),
        "provider": _provider(connection.provider),
        "is_configured": lifecycle.is_configured,
        "missing_settings": lifecycle.missing_settings,
        "is_healthy": lifecycle.is_healthy,
        "linked_integration_id": None,
    }
    for key in BC_STRING_SETTINGS:
        data[key] = _text_or_none(settings.get(key))
    for key in BC_BOOL_SETTINGS:
        data[key] = bool(settings.get(key, False))
    return data


class StuutListQuery(Schema):
    limit: int = Field(MAX_ROWS, ge=1, le=MAX_ROWS, description="Patchbay extension; Stuut has no paging.")
    offset: int = Field(0, ge=0, description="Patchbay extension; Stuut has no paging.")


@router.get("/v2/integrations/connections", response={200: list[StuutConnection], **READ_ERRORS}, auth=CUSTOMER_SCOPED)
def list_connections(request, query: Query[StuutListQuery]):
    """The calling application's connections, newest first.

    Stuut returns the whole list; Patchbay caps one response at 1,000 rows and accepts optional
    `limit`/`offset` so very large applications can page (clients that send neither see no change
    until they pass 1,000 connections).
    """
    rows = connection_page_rows(offset_page(connections_visible(request), offset=query.offset, limit=query.limit))
    return render([present_stuut_connection(c) for c in rows])
