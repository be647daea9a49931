"""Row fields the API presenters share: read from a list page's ConnectionRow (connection_page_rows), or
from the model for single reads."""

from types import SimpleNamespace

from apps.connections.models import Connection, ConnectionModel
from apps.connections.selectors import ConnectionRow


def has_credentials_of(connection: Connection | ConnectionRow) -> bool:
    if isinstance(connection, ConnectionRow):
        return connection.has_stored_credentials
    return connection.has_credentials


def customer_external_id_of(connection: Connection | ConnectionRow) -> str:
    """The application's id for the connection's customer, without a query when the page selected it."""
    if isinstance(connection, ConnectionRow):
        return connection.customer_external_id
    return connection.customer.external_id


def models_of(connection: Connection | ConnectionRow) -> list[ConnectionModel] | list[SimpleNamespace]:
    """The connection's synced models: read with the page's rows, else the (prefetched) relation."""
    if isinstance(connection, ConnectionRow):
        return connection.page_models
    return list(connection.models.all())
