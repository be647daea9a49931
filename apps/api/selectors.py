"""Reads shaped for the API's list endpoints.

The API keeps the lead's connection_list() (application scoping, filters, ordering) and replaces two of
its loading strategies that dominated a page of 100 in the benchmark:
- the per-row provider join made Django decode the provider's whole catalog definition (a large JSON
  document) once per row; here each distinct provider is loaded once;
- Django's prefetch_related clones a queryset per parent row (~0.1 ms each); here the page's models
  (with their last sync run) are loaded in one query and grouped in Python.
The query count stays fixed: page + models + providers.
"""

from collections import defaultdict

from django.db.models import F, QuerySet

from apps.catalog.models import Provider
from apps.connections.models import Connection, ConnectionModel
from apps.connections.selectors import connection_list

MODELS_ATTR = "_api_models"


def connection_list_for_api(*, with_connector_config: bool = False, **filters) -> QuerySet[Connection]:
    """connection_list(**filters) trimmed for a page: pass the rows to load_page_relations.

    The customer is only needed for its external id, so that is annotated instead of joining and building
    a Customer per row; the connector config is joined only when the caller will show it.
    """
    return trim_for_page(connection_list(**filters), with_connector_config=with_connector_config)


def trim_for_page(connections: QuerySet[Connection], *, with_connector_config: bool = False) -> QuerySet[Connection]:
    """See connection_list_for_api. Count on the untrimmed queryset: the annotation would make COUNT join."""
    connections = (
        connections.select_related(None)
        .prefetch_related(None)
        .annotate(customer_external_id=F("customer__external_id"))
    )
    if with_connector_config:
        connections = connections.select_related("connector_config")
    return connections


def load_page_relations(connections: list[Connection], *, with_models: bool = True) -> list[Connection]:
    """Attach providers and (optionally) synced models with their last sync run: one query each."""
    if not connections:
        return connections
    providers = Provider.objects.in_bulk({c.provider_id for c in connections})
    models_by_connection = defaultdict(list)
    if with_models:
        for model in (
            ConnectionModel.objects.filter(connection_id__in=[c.pk for c in connections])
            .select_related("last_sync")
            .order_by("name")
        ):
            models_by_connection[model.connection_id].append(model)
    for connection in connections:
        connection.provider = providers[connection.provider_id]
        if with_models:
            setattr(connection, MODELS_ATTR, models_by_connection.get(connection.pk, []))
    return connections


def customer_external_id_of(connection: Connection) -> str:
    """The application's id for the connection's customer, without a query when the list annotated it."""
    annotated = connection.__dict__.get("customer_external_id")
    return annotated if annotated is not None else connection.customer.external_id


def models_of(connection: Connection) -> list[ConnectionModel]:
    """The connection's synced models: preloaded by load_page_relations, else the (prefetched) relation."""
    preloaded = connection.__dict__.get(MODELS_ATTR)
    return preloaded if preloaded is not None else list(connection.models.all())
