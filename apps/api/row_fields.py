"""Row fields the API presenters share, read from what connection_page_shape annotated and
connection_page_load attached (falling back to the model for single reads)."""

from apps.connections.models import Connection, ConnectionModel
from apps.connections.selectors import PAGE_MODELS_ATTR


def has_credentials_of(connection: Connection) -> bool:
    annotated = connection.__dict__.get("has_stored_credentials")
    return annotated if annotated is not None else connection.has_credentials


def customer_external_id_of(connection: Connection) -> str:
    """The application's id for the connection's customer, without a query when the list annotated it."""
    annotated = connection.__dict__.get("customer_external_id")
    return annotated if annotated is not None else connection.customer.external_id


def models_of(connection: Connection) -> list[ConnectionModel]:
    """The connection's synced models: preloaded by connection_page_load, else the (prefetched) relation."""
    preloaded = connection.__dict__.get(PAGE_MODELS_ATTR)
    return preloaded if preloaded is not None else list(connection.models.all())
