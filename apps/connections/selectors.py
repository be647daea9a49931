"""Reads of connections. Every read made for a caller is scoped to its application (or a customer, which has
one); only the periodic sweeps (connection_ids_needing_refresh, connection_ids_for_health_check) list ids
across all applications."""

from collections import defaultdict
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from django.db.models import F, Prefetch, Q, QuerySet

from apps.catalog.models import ConnectorConfig, Provider
from apps.catalog.selectors import connector_config_get
from apps.connections.exceptions import ConnectorNotConfigured
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
    """The application's connections, newest first. Shape a page with connection_page_shape."""
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


def connection_page_shape(
    connections: QuerySet[Connection], *, with_connector_config: bool = False, with_credentials: bool = False
) -> QuerySet[Connection]:
    """Columns for a page of connections; pass the page's rows to connection_page_load.

    Rows carry `customer_external_id` (annotated instead of building a Customer per row) and
    `provider_version`. The encrypted credentials column is only fetched `with_credentials`; otherwise
    `has_stored_credentials` says whether there are any. Count before shaping: these joins would stay
    in a COUNT.
    """
    connections = connections.annotate(
        customer_external_id=F("customer__external_id"), provider_version=F("provider__modified_at")
    )
    if not with_credentials:
        connections = connections.defer("credentials").annotate(has_stored_credentials=Q(credentials__isnull=False))
    if with_connector_config:
        connections = connections.select_related("connector_config")
    return connections


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


PAGE_MODELS_ATTR = "_page_models"
_PROVIDER_CACHE: dict[tuple[int, datetime | None], Provider] = {}
_PROVIDER_CACHE_SIZE = 512


def _providers_for(connections: list[Connection]) -> dict[int, Provider]:
    """Providers by pk, from a process cache keyed by (pk, modified_at) so a catalog change is seen at once.

    connection_page_shape annotates each row with its provider's modified_at (a cheap join on one column); a hit
    skips the query that would load and JSON-decode each definition again. Rows without the annotation,
    or versions not cached yet, are loaded in one query.
    """
    wanted = {(c.provider_id, c.__dict__.get("provider_version")) for c in connections}
    found = {pk: _PROVIDER_CACHE[(pk, version)] for pk, version in wanted if (pk, version) in _PROVIDER_CACHE}
    missing = {pk for pk, _ in wanted if pk not in found}
    if missing:
        if len(_PROVIDER_CACHE) > _PROVIDER_CACHE_SIZE:
            _PROVIDER_CACHE.clear()
        for pk, provider in Provider.objects.in_bulk(missing).items():
            found[pk] = provider
            _PROVIDER_CACHE[(pk, provider.modified_at)] = provider
    return found


def connection_page_load(connections: list[Connection], *, with_models: bool = True) -> list[Connection]:
    """Attach providers and (optionally) synced models with their last sync run: one query each."""
    if not connections:
        return connections
    providers = _providers_for(connections)
    models_by_connection = defaultdict(list)
    if with_models:
        rows = (
            ConnectionModel.objects.filter(connection_id__in=[c.pk for c in connections])
            .order_by("name")
            .values(*_MODEL_FIELDS, *(f"last_sync__{name}" for name in _RUN_FIELDS))
        )
        for row in rows:
            models_by_connection[row["connection_id"]].append(_model_row(row))
    for connection in connections:
        connection.provider = providers[connection.provider_id]
        if with_models:
            setattr(connection, PAGE_MODELS_ATTR, models_by_connection.get(connection.pk, []))
    return connections


_MODEL_FIELDS = [f.attname for f in ConnectionModel._meta.concrete_fields]
_RUN_FIELDS = [f.attname for f in SyncRun._meta.concrete_fields]


def _model_row(row: dict[str, Any]) -> SimpleNamespace:
    """A read-only stand-in for ConnectionModel (+ last_sync) built from one values() row.

    Presenters only read attributes, and building a namespace is far cheaper than two model instances.
    """
    model = SimpleNamespace(**{name: row[name] for name in _MODEL_FIELDS})
    model.pk = model.id
    run = None
    if row["last_sync__id"] is not None:
        run = SimpleNamespace(**{name: row[f"last_sync__{name}"] for name in _RUN_FIELDS})
        run.pk = run.id
    model.last_sync = run
    return model
