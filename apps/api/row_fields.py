"""Row fields the API presenters share: read from a list page's ConnectionRow (connection_page_rows), or
from the model for single reads."""

from types import SimpleNamespace

from apps.connections.models import Connection, ConnectionModel
from apps.connections.selectors import PAGE_MODELS_ATTR, ConnectionRow


def has_credentials_of(connection: Connection | ConnectionRow) -> bool:
    selected = connection.__dict__.get("has_stored_credentials")
    return selected if selected is not None else connection.has_credentials


def customer_external_id_of(connection: Connection | ConnectionRow) -> str:
    """The application's id for the connection's customer, without a query when the page selected it."""
    selected = connection.__dict__.get("customer_external_id")
    return selected if selected is not None else connection.customer.external_id


def models_of(connection: Connection | ConnectionRow) -> list[ConnectionModel] | list[SimpleNamespace]:
    """The connection's synced models: read with the page's rows, else the (prefetched) relation."""
    selected = connection.__dict__.get(PAGE_MODELS_ATTR)
    return selected if selected is not None else list(connection.models.all())
