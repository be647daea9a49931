"""Reads of connections. Every read made for a caller is scoped to its application (or a customer, which has
one); only the periodic sweeps (connection_ids_needing_refresh, connection_ids_for_health_check) list ids
across all applications."""

import functools
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pydantic_core
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import (
    BooleanField,
    DateTimeField,
    Expression,
    F,
    Field,
    JSONField,
    Prefetch,
    Q,
    QuerySet,
    TextField,
    UUIDField,
)
from django.db.models.expressions import BaseExpression
from django.db.models.sql.compiler import SQLCompiler

from apps.catalog.models import ConnectorConfig, Provider
from apps.catalog.selectors import connector_config_get
from apps.connections.exceptions import ConnectorNotConfigured
from apps.connections.lifecycle import Lifecycle, lifecycle_of_connection
from apps.connections.models import Connection, ConnectionModel, SyncRun
from apps.tenants.models import Application, Customer


def _with_relations(connections: QuerySet[Connection]) -> QuerySet[Connection]:
    return connections.select_related("customer", "provider", "connector_config").prefetch_related(
        Prefetch("models", queryset=ConnectionModel.objects.select_related("last_sync").order_by("name"))
    )


def connection_list(
    *,
    application: Application,
    customer: Customer | None = None,
    provider_name: str | None = None,
    status: str | None = None,
    category: str | None = None,
) -> QuerySet[Connection]:
    """The application's connections, newest first. Read a page of them with connection_page_rows."""
    connections = Connection.objects.filter(application=application)
    if customer is not None:
        connections = connections.filter(customer=customer)
    if provider_name:
        connections = connections.filter(provider__name=provider_name)
    if status:
        connections = connections.filter(status=status)
    if category:
        connections = connections.filter(provider__category_index__contains=f",{category},")
    return connections.order_by("-created_at", "-id")


def connector_config_for(*, connection: Connection) -> ConnectorConfig | None:
    """The OAuth client a connection uses: its own config, else its application's for the provider."""
    config = connection.connector_config  # no query when the column is null
    if config is not None and config.is_enabled:
        if config.provider_id == connection.provider_id:
            config.provider = connection.provider  # already loaded; spares a query for the scopes
        return config
    return connector_config_get(application=connection.application, provider=connection.provider)


def connector_configs_for(*, connections: list[Connection]) -> dict[str, ConnectorConfig | None]:
    """connector_config_for of many connections, by connection id, in at most two queries: their own
    configs, then the applications' configs for the providers of those whose own is missing or disabled.
    The connections' providers should be loaded (each config gets its connection's)."""
    own = ConnectorConfig.objects.in_bulk(
        {connection.connector_config_id for connection in connections if connection.connector_config_id}
    )
    configs: dict[str, ConnectorConfig | None] = {}
    without: list[Connection] = []
    for connection in connections:
        config = own.get(connection.connector_config_id) if connection.connector_config_id else None
        if config is not None and config.is_enabled:
            if config.provider_id == connection.provider_id:
                config.provider = connection.provider
            configs[connection.pk] = config
        else:
            without.append(connection)
    if without:
        applications_configs: dict[tuple[str, int], ConnectorConfig] = {}
        for config in ConnectorConfig.objects.filter(
            application_id__in={connection.application_id for connection in without},
            provider_id__in={connection.provider_id for connection in without},
        ):  # newest first, the order connector_config_get picks from
            applications_configs.setdefault((config.application_id, config.provider_id), config)
        for connection in without:
            config = applications_configs.get((connection.application_id, connection.provider_id))
            if config is not None:
                config.provider = connection.provider
            configs[connection.pk] = config
    return configs


OAUTH_AUTH_TYPES = frozenset({Provider.AuthType.OAUTH2, Provider.AuthType.OAUTH2_CLIENT_CREDENTIALS})


def connector_config_for_new_connection(*, application: Application, provider: Provider) -> ConnectorConfig | None:
    """The config a new connection to `provider` starts with; ConnectorNotConfigured when an OAuth
    provider has no enabled OAuth client in this application (its connect link could never work)."""
    config = connector_config_get(application=application, provider=provider)
    if provider.auth_type in OAUTH_AUTH_TYPES and (config is None or not config.is_enabled):
        raise ConnectorNotConfigured(
            f"This application has no enabled OAuth client for {provider.display_name}, so the connection could "
            f"never be signed in. Configure one first with POST /api/v1/connector-configs "
            f'(provider "{provider.name}", client_id, client_secret), then create the connection.'
        )
    return config


def connection_get(
    *, application: Application, connection_id: str, customer: Customer | None = None
) -> Connection | None:
    """The application's connection by id; with `customer`, only if it is that customer's."""
    connections = Connection.objects.filter(application=application, pk=connection_id)
    if customer is not None:
        connections = connections.filter(customer=customer)
    return _with_relations(connections).first()


def connection_list_for_customer(*, customer: Customer) -> QuerySet[Connection]:
    return _with_relations(
        Connection.objects.filter(application_id=customer.application_id, customer=customer)
    ).order_by("-created_at", "-id")


def connection_ids_needing_refresh(*, now: datetime) -> QuerySet[Connection, str]:
    """Ids of connections whose refresh is due at `now` (services.refresh_margin sets refresh_due_at;
    the lease a refresh claims checks the same column, so a token refreshed meanwhile is skipped)."""
    return (
        Connection.objects.filter(refresh_due_at__lte=now, is_authentication_pending=False, disabled=False)
        .order_by("refresh_due_at")
        .values_list("id", flat=True)
    )


def connection_ids_for_health_check(*, checked_before: datetime) -> QuerySet[Connection, str]:
    return (
        Connection.objects.filter(is_authentication_pending=False, disabled=False)
        .exclude(status=Connection.Status.DISCONNECTED)
        .exclude(health_checked_at__gte=checked_before)
        .values_list("id", flat=True)
    )


_PROVIDER_CACHE: dict[tuple[int, datetime | None], Provider] = {}
_PROVIDER_CACHE_SIZE = 512


def _providers_for(rows: Iterable[Any]) -> dict[int, Provider]:
    """Providers by pk, from a process cache keyed by (pk, modified_at) so a catalog change is seen at once.

    Page rows carry their provider's modified_at (a cheap join on one column); a hit skips the query that
    would load and JSON-decode each definition again. Versions not cached yet are loaded in one query.
    """
    wanted = {(row.provider_id, row.__dict__.get("provider_version")) for row in rows}
    found = {pk: _PROVIDER_CACHE[(pk, version)] for pk, version in wanted if (pk, version) in _PROVIDER_CACHE}
    missing = {pk for pk, _ in wanted if pk not in found}
    if missing:
        if len(_PROVIDER_CACHE) > _PROVIDER_CACHE_SIZE:
            _PROVIDER_CACHE.clear()
        for pk, provider in Provider.objects.in_bulk(missing).items():
            found[pk] = provider
            _PROVIDER_CACHE[(pk, provider.modified_at)] = provider
    return found


_MODEL_FIELDS = {f.attname: f for f in ConnectionModel._meta.concrete_fields}
_RUN_FIELDS = {f.attname: f for f in SyncRun._meta.concrete_fields}


@functools.cache
def _models_json_sql(vendor: str, outer: str) -> str:
    """The correlated subquery behind ConnectionModelsJSON, written out from the two models' columns.

    Keys are literals and nothing is resolved per query: built with the ORM (JSONObject over 33 columns)
    the same subquery took longer to compile than the database took to run it.
    """
    if vendor == "postgresql":
        build_object, array_of, json_column, as_text = "JSON_BUILD_OBJECT", "JSON_AGG", "{}", "({})::text"
    else:
        build_object, array_of, json_column, as_text = "JSON_OBJECT", "JSON_GROUP_ARRAY", "JSON({})", "{}"
    members = []
    for prefix, alias, fields in (("", "m", _MODEL_FIELDS), ("last_sync__", "s", _RUN_FIELDS)):
        for name, field in fields.items():
            column = f'{alias}."{field.column}"'
            value = json_column.format(column) if isinstance(field, JSONField) else column
            members.append(f"'{prefix}{name}', {value}")
    model_table, run_table = ConnectionModel._meta.db_table, SyncRun._meta.db_table
    aggregate = as_text.format(f"{array_of}({build_object}({', '.join(members)}))")
    join = f'"{model_table}" m LEFT JOIN "{run_table}" s ON s."id" = m."last_sync_id"'
    # Every name comes from the models' _meta, nothing from a request.
    return f'(SELECT {aggregate} FROM {join} WHERE m."connection_id" = {outer}."id")'  # noqa: S608


class ConnectionModelsJSON(Expression):
    """Per connection, its synced models with their last sync run as one JSON array (text; NULL without
    models), so a page reads its models in the same query as its rows. Decode with models_from_json."""

    output_field = TextField()

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> tuple[str, tuple[()]]:
        outer = compiler.quote_name(compiler.query.get_initial_alias())
        return _models_json_sql(connection.vendor, outer), ()


def _instant(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _converter(field: Field) -> Callable[[Any], Any] | None:
    """How a column's JSON form becomes what the ORM returns (SQLite writes booleans as 0/1, instants as
    naive UTC text and UUIDs as bare hex; PostgreSQL writes instants with an offset); None: as it is."""
    if isinstance(field, BooleanField):
        return bool
    if isinstance(field, DateTimeField):
        return _instant
    if isinstance(field, UUIDField):
        return uuid.UUID
    return None


_MODEL_CONVERTERS = [(name, name, _converter(field)) for name, field in _MODEL_FIELDS.items()]
_RUN_CONVERTERS = [(name, f"last_sync__{name}", _converter(field)) for name, field in _RUN_FIELDS.items()]


def _namespace(item: dict[str, Any], converters: list[tuple[str, str, Callable[[Any], Any] | None]]) -> SimpleNamespace:
    values = {}
    for name, key, convert in converters:
        value = item[key]
        values[name] = convert(value) if convert is not None and value is not None else value
    namespace = SimpleNamespace(**values)
    namespace.pk = namespace.id
    return namespace


def models_from_json(items: str | None) -> list[SimpleNamespace]:
    """Read-only stand-ins for ConnectionModel (+ last_sync) from ConnectionModelsJSON, by name.

    Presenters only read attributes, and a namespace is far cheaper to build than two model instances.
    """
    models = []
    for item in pydantic_core.from_json(items) if items else []:
        model = _namespace(item, _MODEL_CONVERTERS)
        model.last_sync = _namespace(item, _RUN_CONVERTERS) if item["last_sync__id"] is not None else None
        models.append(model)
    models.sort(key=lambda model: model.name)
    return models


class ConnectionRow:
    """One connection of a list page, read with values() instead of as a model instance (building 100
    instances cost more than the query). It has the attributes the API presenters read, under the
    model's names, plus `customer_external_id`, `has_stored_credentials` and (with models) `page_models`.
    Read-only: to change a connection, load it with connection_get.
    """

    _meta = Connection._meta  # what audit rows record as the target's type

    # Every concrete column but the credentials, under its attname (tests check none is missing) ...
    id: str
    created_at: datetime
    modified_at: datetime
    application_id: str
    customer_id: str
    provider_id: int
    connector_config_id: str | None
    display_name: str
    status: str
    status_message: str
    is_authentication_pending: bool
    is_running_setup: bool
    is_sync_disabled: bool
    disabled: bool
    settings: dict[str, Any]
    metadata: dict[str, Any]
    credentials_expires_at: datetime | None
    scopes_granted: list[str]
    last_refreshed_at: datetime | None
    refresh_lease_until: datetime | None
    refresh_failure_count: int
    refresh_due_at: datetime | None
    refresh_started_at: datetime | None
    refresh_failed_at: datetime | None
    health_status_code: str
    health_message: str
    health_suggested_resolution: str
    health_authentication_required: bool
    health_checked_at: datetime | None
    status_changed_at: datetime
    next_sync_at: datetime | None
    connected_at: datetime | None
    connect_nonce: str
    # ... what the page query adds ...
    customer_external_id: str
    provider_version: datetime
    has_stored_credentials: bool
    page_models: list[SimpleNamespace]
    list_count: int
    # ... and what connection_page_rows attaches.
    provider: Provider
    connector_config: ConnectorConfig | None

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)

    @property
    def pk(self) -> str:
        return self.id

    @property
    def lifecycle(self) -> Lifecycle:
        return lifecycle_of_connection(self)

    @property
    def credentials(self) -> dict | None:
        """Decrypted on read, like the model's field; only selected when the page was read with_credentials."""
        stored = self.__dict__["credentials"]
        return None if not stored else CREDENTIALS_FIELD.decrypt_stored(model=Connection, pk=self.id, stored=stored)


CREDENTIALS_FIELD = Connection._meta.get_field("credentials")
_ROW_FIELDS = [f.attname for f in Connection._meta.concrete_fields if f.attname != "credentials"]


def connection_page_rows(
    page: QuerySet[Connection],
    *,
    with_models: bool = True,
    with_credentials: bool = False,
    with_connector_config: bool = False,
    list_count: BaseExpression | None = None,
) -> list[ConnectionRow]:
    """The rows of a page queryset (keyset_page / offset_page) in one query, as ConnectionRows with their
    provider attached (from the process cache; one more query the first time a catalog version is seen).

    The encrypted credentials are only read `with_credentials`; `has_stored_credentials` says whether
    there are any. `with_connector_config` costs one more query for the page's configs. `list_count`, an
    expression counting the whole list (pagination.CappedCount), is selected as every row's `list_count`,
    so the count needs no statement of its own; an empty page has no row to carry it.
    """
    columns = [*_ROW_FIELDS, "credentials"] if with_credentials else _ROW_FIELDS
    annotations: dict[str, Any] = {
        "customer_external_id": F("customer__external_id"),
        "provider_version": F("provider__modified_at"),
        "has_stored_credentials": Q(credentials__isnull=False),
    }
    if with_models:
        annotations["models_json"] = ConnectionModelsJSON()
    if list_count is not None:
        annotations["list_count"] = list_count
    rows = []
    for values in page.values(*columns, **annotations):
        models_json = values.pop("models_json", None)
        row = ConnectionRow(values)
        if with_models:
            row.page_models = models_from_json(models_json)
        rows.append(row)
    if not rows:
        return rows
    providers = _providers_for(rows)
    configs = (
        ConnectorConfig.objects.in_bulk({row.connector_config_id for row in rows if row.connector_config_id})
        if with_connector_config
        else {}
    )
    for row in rows:
        row.provider = providers[row.provider_id]
        if with_connector_config:
            row.connector_config = configs.get(row.connector_config_id)
    return rows
