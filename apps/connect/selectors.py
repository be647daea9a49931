"""Reads for the hosted connect pages and the widget: scoped by application, and by customer for the portal
and the widget. Two lookups come before any scope exists: a widget session by its credential's hash, and
whether any application allows an origin (the widget's frame check)."""

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet

from apps.catalog.models import ConnectorConfig, Provider
from apps.catalog.selectors import provider_list
from apps.connect.models import ConnectSession, OAuthAttempt
from apps.connections.models import Connection
from apps.tenants.models import Application, Customer

CREDENTIAL_AUTH_TYPES = (Provider.AuthType.API_KEY, Provider.AuthType.BASIC)


def portal_subject_get(*, application_id: str, customer_id: str) -> tuple[Application, Customer] | None:
    customer = (
        Customer.objects.select_related("application").filter(id=customer_id, application_id=application_id).first()
    )
    return (customer.application, customer) if customer is not None else None


def popup_application_get(*, application_id: str) -> Application | None:
    """The application a sign-in window was opened for (its id comes from a link Patchbay signed), for its brand."""
    return Application.objects.filter(pk=application_id).first() if application_id else None


def portal_connection_get(
    *, application_id: str, connection_id: str, customer_id: str | None = None
) -> Connection | None:
    """One connection of this application (and customer, when given); None for anyone else's."""
    connections = Connection.objects.filter(application_id=application_id, id=connection_id)
    if customer_id is not None:
        connections = connections.filter(customer_id=customer_id)
    return connections.select_related("application", "customer", "provider", "connector_config").first()


def portal_provider_list(
    *, application: Application, allowed_providers: list[str] | None = None, search: str = "", category: str = ""
) -> QuerySet[Provider]:
    """Providers a customer can add here: enabled, allowed by the session, and usable by this application
    (credential providers always; OAuth ones only with an enabled ConnectorConfig). One query."""
    configured = ConnectorConfig.objects.filter(application=application, provider=OuterRef("pk"), is_enabled=True)
    providers = provider_list(search=search.strip()[:100], category=category.strip()[:50])
    providers = providers.filter(Q(auth_type__in=CREDENTIAL_AUTH_TYPES) | Q(Exists(configured)))
    if allowed_providers:
        providers = providers.filter(name__in=allowed_providers)
    return providers


def portal_categories(*, providers: Iterable[Provider]) -> list[tuple[str, str]]:
    """(value, label) for each category among these providers; computed in Python, no query."""
    names = sorted({category for provider in providers for category in provider.categories})
    return [(name, name.replace("_", " ").capitalize()) for name in names]


# --- the embedded widget -------------------------------------------------------------------------------


def origin_is_allowed_anywhere(*, origin: str) -> bool:
    """Whether any application lists this exact origin (a text match narrows, the exact check decides)."""
    candidates = Application.objects.filter(allowed_origins__icontains=f'"{origin}"').only("allowed_origins")
    return any(application.is_origin_allowed(origin) for application in candidates)


def widget_session_get(*, credential_hash: str) -> ConnectSession | None:
    sessions = ConnectSession.objects.select_related("application", "customer")
    return sessions.filter(widget_credential_hash=credential_hash).first()


def widget_connections_completed(*, customer: Customer, since: datetime) -> QuerySet[Connection]:
    """This customer's connections that finished connecting at or after `since`."""
    return (
        Connection.objects.filter(application_id=customer.application_id, customer=customer, connected_at__gte=since)
        .select_related("provider")
        .order_by("connected_at")
    )


def widget_attempts_failed(*, customer: Customer, since: datetime) -> QuerySet[OAuthAttempt]:
    """Sign-ins for this customer's connections that came back failed at or after `since`."""
    return (
        OAuthAttempt.objects.filter(
            connection__application_id=customer.application_id,
            connection__customer=customer,
            used_at__gte=since,
        )
        .exclude(failure_code="")
        .select_related("provider")
        .order_by("used_at")
    )
