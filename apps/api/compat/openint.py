"""OpenInt-compatible `GET /connection/{id}` and `GET /connection` (reference: openint-get-connection.txt).

Mapping: OpenInt's connector = our catalog Provider, its connector config = our ConnectorConfig, its
customer_id = the application's own customer id (our Customer.external_id). An OpenInt *integration*
is one service reachable through a connector; in Patchbay each catalog entry is one service, so a
connection's integration is its catalog entry, with id `int_<provider name>`: `standard` is the
catalog name, `external` the service's website, `version` the catalog entry's content revision, and
`created_at`/`updated_at` when the entry was loaded and last changed.
`expand` takes `connector` and `integration`, repeated (`?expand=connector&expand=integration`) or
comma-separated. The connector's `schemas.connection_settings` and `schemas.connector_config` are JSON
Schemas generated from the catalog entry (apps/catalog/json_schemas.py); the other schemas are null,
since Patchbay has no such inputs. `settings` holds the connection's non-secret settings; with
include_secrets=true it also carries the credentials the way OpenInt does (`settings.oauth.credentials`
for OAuth connectors, the key fields themselves for API-key ones).
"""

from typing import Annotated, Any, Literal

from django.db.models import Q
from ninja import Field, Query, Router, Schema
from pydantic import BeforeValidator

from apps.api.auth import CUSTOMER_SCOPED
from apps.api.pagination import CappedCount, capped, capped_count, offset_page
from apps.api.row_fields import customer_external_id_of
from apps.api.v1.common import (
    READ_ERRORS,
    connection_read,
    connections_visible,
    ensure_own_customer,
    ensure_secrets_allowed,
    fresh_rows,
    record_secrets_read,
    render,
    split_list_param,
)
from apps.api.v1.schemas import Out, absolute
from apps.catalog.json_schemas import connection_settings_schema, connector_config_schema
from apps.catalog.models import Provider
from apps.catalog.selectors import provider_list
from apps.connections.models import Connection
from apps.connections.selectors import ConnectionRow, connection_page_rows
from apps.core.timestamps import format_timestamp

router = Router(tags=["compat: openint"])

AUTH_TYPES = {"oauth2": "OAUTH2", "oauth2_client_credentials": "OAUTH2CC", "api_key": "API_KEY", "basic": "BASIC"}
PLATFORMS = ("web", "mobile", "desktop", "local", "cloud")
# Counting every match made `total` scan the whole table (32 ms at 1M rows); counting stops here.
TOTAL_COUNT_HORIZON = 10_000


class OpenIntSchemas(Out):
    connector_config: Any = None
    connection_settings: Any = None
    integration_data: Any = None
    webhook_input: Any = None
    pre_connect_input: Any = None
    connect_input: Any = None
    connect_output: Any = None


class OpenIntScope(Out):
    scope: str
    display_name: str | None
    description: str | None


class OpenIntConnector(Out):
    name: str
    display_name: str
    logo_url: str
    stage: Literal["alpha", "beta", "ga", "hidden"]
    platforms: list[Literal["web", "mobile", "desktop", "local", "cloud"]]
    schemas: OpenIntSchemas
    auth_type: Literal["BASIC", "OAUTH1", "OAUTH2", "OAUTH2CC", "API_KEY", "CUSTOM"]
    required_scopes: list[str]
    openint_default_scopes: list[str]
    openint_allowed_scopes: list[str]
    scopes: list[OpenIntScope]
    has_openint_credentials: bool


class OpenIntIntegration(Out):
    id: str
    standard: str
    external: str
    created_at: str
    updated_at: str
    connector_name: str
    name: str
    logo_url: str
    stage: Literal["alpha", "beta", "ga", "hidden"]
    platforms: list[Literal["web", "mobile", "desktop", "local", "cloud"]]
    category: str
    auth_type: str
    version: str


class OpenIntConnection(Out):
    id: str
    customer_id: str | None
    connector_config_id: str | None
    integration_id: str | None
    status_message: str | None = None
    created_at: str
    updated_at: str
    display_name: str | None
    disabled: bool | None
    status: Literal["healthy", "disconnected", "error", "manual", "unknown"] | None = None
    metadata: dict[str, Any] | None = None
    connector: OpenIntConnector | None = Field(None, description="Only with expand=connector.")
    integration: OpenIntIntegration | None = Field(None, description="Only with expand=integration.")
    settings: dict[str, Any] | None = None
    connector_name: str


class OpenIntConnectionPage(Out):
    items: list[OpenIntConnection]
    total: int = Field(
        ...,
        description=f"Matching connections. Exact below {TOTAL_COUNT_HORIZON:,} or on the last page; "
        "otherwise a lower bound (the horizon, or offset + this page + 1) and total_is_exact is false.",
    )
    total_is_exact: bool = Field(..., description="Patchbay extension: false when total is a lower bound.")
    limit: int
    offset: int


def connector_name(provider: Provider) -> str:
    return (provider.definition.get("compat") or {}).get("openint_connector_name") or provider.name


def integration_id(provider: Provider) -> str:
    return f"int_{provider.name}"


def present_openint_integration(provider: Provider) -> dict:
    d = provider.definition
    return {
        "id": integration_id(provider),
        "standard": provider.name,
        "external": d.get("website", ""),
        "created_at": format_timestamp(provider.created_at),
        "updated_at": format_timestamp(provider.modified_at),
        "connector_name": connector_name(provider),
        "name": provider.display_name,
        "logo_url": absolute(provider.logo_url),
        "stage": provider.stage,
        "platforms": [p for p in d.get("platforms", ["web"]) if p in PLATFORMS],
        "category": provider.categories[0] if provider.categories else "other",
        "auth_type": AUTH_TYPES[provider.auth_type],
        "version": provider.content_hash[:12],
    }


def present_openint_connector(provider: Provider) -> dict:
    d = provider.definition
    return {
        "name": connector_name(provider),
        "display_name": provider.display_name,
        "logo_url": absolute(provider.logo_url),
        "stage": provider.stage,
        "platforms": [p for p in d.get("platforms", ["web"]) if p in PLATFORMS],
        "schemas": {
            "connector_config": connector_config_schema(provider),
            "connection_settings": connection_settings_schema(provider),
            "integration_data": None,
            "webhook_input": None,
            "pre_connect_input": None,
            "connect_input": None,
            "connect_output": None,
        },
        "auth_type": AUTH_TYPES[provider.auth_type],
        "required_scopes": provider.scopes_of_kind("required"),
        "openint_default_scopes": provider.scopes_of_kind("required", "default"),
        "openint_allowed_scopes": provider.scopes_of_kind("required", "default", "optional"),
        "scopes": [
            {"scope": s["scope"], "display_name": s.get("display_name"), "description": s.get("description")}
            for s in provider.scopes
        ],
        "has_openint_credentials": False,
    }


def _settings(connection: Connection | ConnectionRow, *, include_secrets: bool) -> dict:
    settings = dict(connection.settings or {})
    if include_secrets:
        credentials = connection.credentials or {}
        if connection.provider.auth_type in {"oauth2", "oauth2_client_credentials"}:
            settings["oauth"] = {"credentials": credentials}
        else:
            settings.update(credentials)
    return settings


def present_openint_connection(
    connection: Connection | ConnectionRow, *, include_secrets: bool, expand: set[str]
) -> dict:
    data = {
        "id": connection.pk,
        "customer_id": customer_external_id_of(connection),
        "connector_config_id": connection.connector_config_id,
        "integration_id": integration_id(connection.provider),
        "status_message": connection.status_message or None,
        "created_at": format_timestamp(connection.created_at),
        "updated_at": format_timestamp(connection.modified_at),
        "display_name": connection.display_name or None,
        "disabled": connection.disabled,
        # OpenInt has no "unverified"; "unknown" is the honest match and status_message says why.
        "status": "unknown" if connection.status == Connection.Status.UNVERIFIED else connection.status,
        "metadata": connection.metadata or {},
        "settings": _settings(connection, include_secrets=include_secrets),
        "connector_name": connector_name(connection.provider),
    }
    if "connector" in expand:
        data["connector"] = present_openint_connector(connection.provider)
    if "integration" in expand:
        data["integration"] = present_openint_integration(connection.provider)
    return data


RefreshPolicy = Literal["none", "force", "auto"]


def _split_expand(values) -> list[str]:
    return split_list_param(values if isinstance(values, list) else [values])


class OpenIntGetQuery(Schema):
    include_secrets: bool = False
    refresh_policy: RefreshPolicy = Field("auto", description="none (never), force (always), auto (when expired).")
    expand: Annotated[list[Literal["connector", "integration"]], BeforeValidator(_split_expand)] = Field(
        default_factory=list, description="connector, integration: repeated or comma-separated."
    )


class OpenIntListQuery(OpenIntGetQuery):
    connector_config_id: str | None = None
    connector_names: list[str] = Field(default_factory=list)
    customer_id: str | None = None
    search_query: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=100)
    offset: int = Field(0, ge=0)


def _total(*, counted: int, below_horizon: bool, offset: int, rows: int, has_more: bool) -> tuple[int, bool]:
    """(total, is_exact) without counting past TOTAL_COUNT_HORIZON: below it the count is exact; past it,
    a page that ends the list knows the total, and any other page knows a lower bound."""
    if below_horizon:
        return counted, True
    if not rows:  # past the end: all that is known is the horizon
        return counted, False
    if not has_more:
        return offset + rows, True
    return max(counted, offset + rows + 1), False


def _expand(values) -> set[str]:
    return set(split_list_param([str(v) for v in values]))


@router.get(
    "/connection/{connection_id}",
    response={200: OpenIntConnection, **READ_ERRORS},
    exclude_unset=True,
    auth=CUSTOMER_SCOPED,
)
def get_connection(request, connection_id: str, query: Query[OpenIntGetQuery]):
    connection = connection_read(
        request,
        connection_id,
        refresh_policy=query.refresh_policy,
        include_secrets=query.include_secrets,
        via="api.compat.openint.get_connection",
    )
    return present_openint_connection(connection, include_secrets=query.include_secrets, expand=_expand(query.expand))


@router.get(
    "/connection", response={200: OpenIntConnectionPage, **READ_ERRORS}, exclude_unset=True, auth=CUSTOMER_SCOPED
)
def list_connections(request, query: Query[OpenIntListQuery]):
    ensure_secrets_allowed(request, query.include_secrets)
    connections = connections_visible(request)
    if query.customer_id:
        ensure_own_customer(request, query.customer_id)
        connections = connections.filter(customer__external_id=query.customer_id)
    if query.connector_config_id:
        connections = connections.filter(connector_config_id=query.connector_config_id)
    names = split_list_param(query.connector_names)
    if names:
        provider_names = [p.name for p in provider_list(enabled_only=False) if connector_name(p) in names]
        connections = connections.filter(provider__name__in=provider_names)
    if query.search_query:
        connections = connections.filter(
            Q(display_name__icontains=query.search_query) | Q(provider__name__icontains=query.search_query)
        )
    page = connection_page_rows(
        offset_page(connections, offset=query.offset, limit=query.limit + 1),
        with_models=False,
        with_credentials=query.include_secrets,
        list_count=CappedCount(connections, up_to=TOTAL_COUNT_HORIZON),
    )
    # A page past the end has no row to carry the count, so only then is it a statement of its own.
    counted, below_horizon = (
        capped(page[0].list_count, up_to=TOTAL_COUNT_HORIZON)
        if page
        else capped_count(connections, up_to=TOTAL_COUNT_HORIZON)
    )
    has_more = len(page) > query.limit
    rows = fresh_rows(request, page[: query.limit], query.refresh_policy)
    total, total_is_exact = _total(
        counted=counted, below_horizon=below_horizon, offset=query.offset, rows=len(rows), has_more=has_more
    )
    if query.include_secrets and rows:
        record_secrets_read(request, *rows, via="api.compat.openint.list_connections")
    expand = _expand(query.expand)
    items = [present_openint_connection(c, include_secrets=query.include_secrets, expand=expand) for c in rows]
    return render(
        {"items": items, "total": total, "total_is_exact": total_is_exact, "limit": query.limit, "offset": query.offset}
    )
