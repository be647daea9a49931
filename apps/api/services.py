"""Writes the API needs that span apps. Each one calls the owning app's services for the actual change."""

from django.db import transaction

from apps.connections.selectors import connection_list_for_customer
from apps.connections.services import connection_delete
from apps.core.services import audit_record
from apps.tenants.models import Application, Customer


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


def application_delete(*, application: Application, actor: str = "system") -> None:
    """Delete an application: every customer through customer_delete (so every connection is revoked at its
    provider and announced), then the application row, its keys and connector configs in one transaction.

    The application's audit trail outlives it (audit rows lose only their application link).
    """
    for customer in list(Customer.objects.filter(application=application)):
        customer_delete(customer=customer, actor=actor)
    with transaction.atomic():
        audit_record(
            action="application.deleted",
            target=application,
            actor=actor,
            data={"slug": application.slug, "name": application.name},
        )
        application.delete()
