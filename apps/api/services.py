"""Writes the API needs that span apps: deleting a customer or an application (every connection through
connection_delete, so each is revoked at its provider and announced, then the rows themselves), and the
API's own customer tokens."""

import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apps.api.models import CustomerToken
from apps.audit.services import audit_record
from apps.connections.selectors import connection_list_for_customer
from apps.connections.services import connection_delete
from apps.core.errors import ValidationFailed
from apps.tenants.models import Application, Customer
from apps.tenants.services import hash_secret

CUSTOMER_TOKEN_PREFIX = "pb_ct_"
CUSTOMER_TOKEN_MAX_TTL = timedelta(hours=24)


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


@transaction.atomic
def customer_token_create(*, customer: Customer, ttl: timedelta, actor: str) -> tuple[CustomerToken, str]:
    """Mint a token scoped to one customer; returns it with its plaintext, which is never stored."""
    if not timedelta(seconds=60) <= ttl <= CUSTOMER_TOKEN_MAX_TTL:
        raise ValidationFailed.from_messages("A customer token lives between 60 seconds and 24 hours.")
    raw = CUSTOMER_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = CustomerToken.objects.create(
        application=customer.application,
        customer=customer,
        token_hash=hash_secret(raw),
        expires_at=timezone.now() + ttl,
        created_by=actor,
    )
    audit_record(
        action="customer_token.created",
        target=token,
        actor=actor,
        data={"customer": customer.external_id, "expires_at": token.expires_at.isoformat()},
    )
    return token, raw


@transaction.atomic
def customer_token_revoke(*, token: CustomerToken, actor: str) -> CustomerToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at", "modified_at"])
        audit_record(action="customer_token.revoked", target=token, actor=actor)
    return token
