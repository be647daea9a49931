"""Writes the API needs that span apps. Each one calls the owning app's services for the actual change."""

from django.db import transaction

from apps.connections.selectors import connection_list_for_customer
from apps.connections.services import connection_delete
from apps.core.services import audit_record
from apps.tenants.models import Customer


def customer_delete(*, customer: Customer, actor: str = "system") -> None:
    """Delete a customer with every connection it holds.

    Each connection is revoked at its provider and deleted on its own (connection_delete: no transaction
    open while the provider is called), so N revocations never hold one transaction open; the customer
    row goes last, in its own transaction.
    """
    connections = list(connection_list_for_customer(customer=customer))
    for connection in connections:
        connection_delete(connection=connection, actor=actor)
    with transaction.atomic():
        audit_record(
            action="customer.deleted",
            target=customer,
            actor=actor,
            data={"external_id": customer.external_id, "connections_deleted": len(connections)},
        )
        customer.delete()
