"""Supaglue-compatible `GET /customers/{customer_id}/connections` (reference: supaglue-list-connections.txt).

Mapping: Supaglue's application = our Application, customer_id = the application's own customer id
(Customer.external_id), provider = the application's ConnectorConfig for a catalog provider.
- provider_name / category come from the provider's catalog `compat.supaglue_provider_name` /
  `compat.supaglue_category`. Connections to providers Supaglue never supported (no supaglue name) are
  left out of this endpoint, because Supaglue clients validate provider_name against a fixed enum.
- provider_id is the connection's connector config id (Supaglue's provider record); a connection made
  without one reports "<provider>" so the field stays a non-empty string.
- instance_url: the `instance_url` setting (Salesforce, …), else `api_url`, else the provider's website.
- schema_mappings_config, entity_mappings and connection_sync_config are optional and deprecated in the
  doc; Patchbay has no field mappings or sync destinations, so they are omitted (never null).
"""

from typing import Literal, get_args

from ninja import Field, Router

from apps.api.auth import ApiKeyOrCustomerTokenAuth, SupaglueApiKeyHeader
from apps.api.row_fields import customer_external_id_of
from apps.api.v1.common import READ_ERRORS, ensure_own_customer, render
from apps.api.v1.schemas import Out
from apps.connections.models import Connection
from apps.connections.selectors import ConnectionRow, connection_list, connection_page_rows
from apps.core.errors import NotFound
from apps.tenants.selectors import customer_get

# Supaglue clients send their key as `x-api-key`; Bearer works too, as everywhere.
router = Router(tags=["compat: supaglue"], auth=[ApiKeyOrCustomerTokenAuth(), SupaglueApiKeyHeader()])

SupaglueProviderName = Literal[
    "hubspot",
    "salesforce",
    "pipedrive",
    "zendesk_sell",
    "ms_dynamics_365_sales",
    "zoho_crm",
    "capsule",
    "outreach",
    "gong",
    "apollo",
    "salesloft",
    "intercom",
    "linear",
    "clearbit",
    "6sense",
    "marketo",
    "salesforce_marketing_cloud_account_engagement",
    "slack",
]
SUPAGLUE_PROVIDER_NAMES = frozenset(get_args(SupaglueProviderName))
SupaglueCategory = Literal["crm", "engagement", "enrichment", "marketing_automation", "no_category"]


class FieldMapping(Out):
    schema_field: str
    mapped_field: str | None = None


class ObjectFieldMappings(Out):
    object: str
    field_mappings: list[FieldMapping]


class SchemaMappingsConfig(Out):
    common_objects: list[ObjectFieldMappings] | None = None
    standard_objects: list[ObjectFieldMappings] | None = None


class EntityFieldMapping(Out):
    entity_field: str
    mapped_field: str


class EntityObject(Out):
    type: Literal["standard", "custom"]
    name: str


class EntityMapping(Out):
    entity_id: str
    object: EntityObject | None = None
    field_mappings: list[EntityFieldMapping] | None = None


class DestinationConfig(Out):
    type: Literal["postgres"]
    schema_: str = Field(..., alias="schema")


class SyncObject(Out):
    object: str


class ConnectionSyncConfig(Out):
    destination_config: DestinationConfig | None = None
    standard_objects: list[SyncObject] | None = None
    custom_objects: list[SyncObject] | None = None


class SupaglueConnection(Out):
    id: str
    application_id: str
    customer_id: str
    provider_id: str
    provider_name: SupaglueProviderName
    category: SupaglueCategory
    instance_url: str
    schema_mappings_config: SchemaMappingsConfig | None = None
    entity_mappings: list[EntityMapping] | None = None
    connection_sync_config: ConnectionSyncConfig | None = None


def present_supaglue_connection(connection: Connection | ConnectionRow) -> dict | None:
    compat = connection.provider.definition.get("compat") or {}
    provider_name = compat.get("supaglue_provider_name")
    if provider_name not in SUPAGLUE_PROVIDER_NAMES:
        return None
    settings = connection.settings or {}
    instance_url = (
        settings.get("instance_url") or settings.get("api_url") or connection.provider.definition.get("website") or ""
    )
    return {
        "id": connection.pk,
        "application_id": connection.application_id,
        "customer_id": customer_external_id_of(connection),
        "provider_id": connection.connector_config_id or connection.provider.name,
        "provider_name": provider_name,
        "category": compat.get("supaglue_category", "no_category"),
        "instance_url": str(instance_url),
    }


@router.get(
    "/customers/{customer_id}/connections",
    response={200: list[SupaglueConnection], **READ_ERRORS},
    exclude_unset=True,
    by_alias=True,
)
def list_customer_connections(request, customer_id: str):
    ensure_own_customer(request, customer_id)
    customer = customer_get(application=request.auth.application, external_id=customer_id)
    if customer is None:
        raise NotFound("Customer not found.")
    connections = connection_page_rows(
        connection_list(application=request.auth.application, customer=customer), with_models=False
    )
    rows = [row for row in (present_supaglue_connection(c) for c in connections) if row is not None]
    return render(rows)
