"""Reads of connections. Every query is scoped to an application (or a customer, which has one)."""

from django.core import signing
from django.db.models import Prefetch, QuerySet

from apps.connections.models import CONNECT_TOKEN_SALT, Connection, ConnectionModel


def _with_relations(connections: QuerySet[Connection]) -> QuerySet[Connection]:
    return connections.select_related("customer", "provider", "connector_config").prefetch_related(
        Prefetch("models", queryset=ConnectionModel.objects.select_related("last_sync").order_by("name"))
    )


def connection_list(
    *,
    application,
    customer=None,
    provider_name: str | None = None,
    status: str | None = None,
    category: str | None = None,
) -> QuerySet[Connection]:
    connections = Connection.objects.filter(application=application)
    if customer is not None:
        connections = connections.filter(customer=customer)
    if provider_name:
        connections = connections.filter(provider__name=provider_name)
    if status:
        connections = connections.filter(status=status)
    if category:
        connections = connections.filter(provider__category_index__contains=f",{category},")
    return _with_relations(connections).order_by("-created_at", "-id")


def connection_get(*, application, connection_id: str) -> Connection | None:
    return _with_relations(Connection.objects.filter(application=application, pk=connection_id)).first()


def connection_get_by_connect_token(*, token: str) -> Connection | None:
    """The connection a /connect/start/<token> link was issued for, if the link is still current."""
    try:
        value = signing.Signer(salt=CONNECT_TOKEN_SALT).unsign(token)
    except signing.BadSignature:
        return None
    connection_id, _, nonce = value.rpartition(".")
    return (
        Connection.objects.filter(pk=connection_id, connect_nonce=nonce)
        .select_related("application", "customer", "provider", "connector_config")
        .first()
    )


def connection_list_for_customer(*, customer) -> QuerySet[Connection]:
    return _with_relations(
        Connection.objects.filter(application_id=customer.application_id, customer=customer)
    ).order_by("-created_at", "-id")


def connection_ids_needing_refresh(*, horizon) -> QuerySet:
    """Ids of connections whose access token expires before `horizon` and can still be refreshed."""
    return (
        Connection.objects.filter(
            credentials_expires_at__isnull=False,
            credentials_expires_at__lte=horizon,
            is_authentication_pending=False,
            disabled=False,
        )
        .exclude(status=Connection.Status.DISCONNECTED)
        .order_by("credentials_expires_at")
        .values_list("id", flat=True)
    )


def connection_ids_for_health_check(*, checked_before) -> QuerySet:
    return (
        Connection.objects.filter(is_authentication_pending=False, disabled=False)
        .exclude(status=Connection.Status.DISCONNECTED)
        .exclude(health_checked_at__gte=checked_before)
        .values_list("id", flat=True)
    )
