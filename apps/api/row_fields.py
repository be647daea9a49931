"""Row fields the API presenters share, read from what connection_page_shape annotated and
connection_page_load attached (falling back to the model for single reads)."""

from apps.connections.models import Connection, ConnectionModel
from apps.connections.selectors import PAGE_MODELS_ATTR


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
    """The connection's synced models: preloaded by connection_page_load, else the (prefetched) relation."""
    preloaded = connection.__dict__.get(PAGE_MODELS_ATTR)
    return preloaded if preloaded is not None else list(connection.models.all())
