"""Reads shaped for the API's list endpoints.

The API keeps the lead's connection_list() (application scoping, filters, ordering) and replaces two of
its loading strategies that dominated a page of 100 in the benchmark:
- the per-row provider join made Django decode the provider's whole catalog definition (a large JSON
  document) once per row; here each distinct provider is loaded once;
- Django's prefetch_related clones a queryset per parent row (~0.1 ms each); here the page's models
  (with their last sync run) are loaded in one query and grouped in Python.
The query count stays fixed: page + models, + providers when one changed or was not seen yet.
"""

from collections import defaultdict
from types import SimpleNamespace

from django.db.models import F, Q, QuerySet

from apps.catalog.models import Provider
from apps.connections.models import Connection, ConnectionModel, SyncRun
from apps.connections.selectors import connection_list

MODELS_ATTR = "_api_models"


def connection_list_for_api(
    *, with_connector_config: bool = False, with_credentials: bool = False, **filters
) -> QuerySet[Connection]:
    """connection_list(**filters) trimmed for a page: pass the rows to load_page_relations.

    The customer is only needed for its external id, so that is annotated instead of joining and building
    a Customer per row; the connector config is joined only when the caller will show it.
    """
    return trim_for_page(
        connection_list(**filters), with_connector_config=with_connector_config, with_credentials=with_credentials
    )


def trim_for_page(
    connections: QuerySet[Connection], *, with_connector_config: bool = False, with_credentials: bool = False
) -> QuerySet[Connection]:
    """See connection_list_for_api. Count on the untrimmed queryset: the annotation would make COUNT join.

    Unless the caller returns secrets, the encrypted credentials column is not fetched at all; whether a
    row has credentials is annotated instead (read it with has_credentials_of).
    """
    connections = (
        connections.select_related(None)
        .prefetch_related(None)
        .annotate(customer_external_id=F("customer__external_id"), provider_version=F("provider__modified_at"))
    )
    if not with_credentials:
        connections = connections.defer("credentials").annotate(has_stored_credentials=Q(credentials__isnull=False))
    if with_connector_config:
        connections = connections.select_related("connector_config")
    return connections


_PROVIDER_CACHE: dict[tuple, Provider] = {}
_PROVIDER_CACHE_SIZE = 512


def _providers_for(connections: list[Connection]) -> dict:
    """Providers by pk, from a process cache keyed by (pk, modified_at) so a catalog change is seen at once.

    trim_for_page annotates each row with its provider's modified_at (a cheap join on one column); a hit
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


def load_page_relations(connections: list[Connection], *, with_models: bool = True) -> list[Connection]:
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
            setattr(connection, MODELS_ATTR, models_by_connection.get(connection.pk, []))
    return connections


_MODEL_FIELDS = [f.attname for f in ConnectionModel._meta.concrete_fields]
_RUN_FIELDS = [f.attname for f in SyncRun._meta.concrete_fields]


def _model_row(row: dict) -> SimpleNamespace:
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


def lifecycle_of(connection: Connection) -> dict:
    """missing_settings / is_configured / requires_setup / is_healthy, as the Connection model defines them.

    Each model property recomputes missing_settings from the provider spec; on a page of 100 that was
    five passes per row, so the presenters take them from here (one pass) instead.
    """
    missing = connection.missing_settings
    pending = connection.is_authentication_pending
    is_configured = not pending and not missing
    return {
        "missing_settings": missing,
        "is_configured": is_configured,
        "requires_setup": pending or bool(missing),
        "is_healthy": is_configured and connection.status == Connection.Status.HEALTHY,
    }


def has_credentials_of(connection: Connection) -> bool:
    annotated = connection.__dict__.get("has_stored_credentials")
    return annotated if annotated is not None else connection.has_credentials


def customer_external_id_of(connection: Connection) -> str:
    """The application's id for the connection's customer, without a query when the list annotated it."""
    annotated = connection.__dict__.get("customer_external_id")
    return annotated if annotated is not None else connection.customer.external_id


def models_of(connection: Connection) -> list[ConnectionModel]:
    """The connection's synced models: preloaded by load_page_relations, else the (prefetched) relation."""
    preloaded = connection.__dict__.get(MODELS_ATTR)
    return preloaded if preloaded is not None else list(connection.models.all())
