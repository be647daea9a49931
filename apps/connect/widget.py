"""The embedded connect widget: how a connect-session token becomes a widget credential, what a widget may
see and do with it, where its sign-in window goes, and the events it reports to the host page.

The widget runs in a third-party iframe, where browsers block cookies. So it never relies on a cookie:
the host's connect.js hands the session token over by postMessage, the widget exchanges it once (POST,
never a URL) for a short-lived credential it sends in a header on every request, and the outcome of a
sign-in reaches it through the server (the events it polls), never through `window.opener`.
Sign-ins run in a first-party popup, which keeps using the ordinary cookie-bound connect pages.
"""

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from django.core import signing
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from apps.audit.services import audit_record
from apps.catalog.models import Provider
from apps.connect import selectors, services
from apps.connect.exceptions import (
    ConnectionNotFound,
    ProviderNotAllowed,
    WidgetOriginNotAllowed,
    WidgetPopupLinkInvalid,
    WidgetSessionEnded,
)
from apps.connect.models import ConnectSession
from apps.connections import services as connection_services
from apps.connections.models import Connection
from apps.core.errors import ValidationFailed
from apps.tenants.models import Application, Customer
from apps.tenants.services import hash_secret, normalize_origin

CREDENTIAL_HEADER = "X-Patchbay-Widget"
CREDENTIAL_PREFIX = "pbw_"
CREDENTIAL_TTL = timedelta(minutes=30)
POPUP_LINK_SALT = "patchbay.connect.widget-popup"
POPUP_LINK_MAX_AGE = 600


class PopupAction:
    CONNECT = "connect"  # finish a pending or incomplete connection
    RECONNECT = "reconnect"  # sign in again on a connection that works (or worked)

    ALL = (CONNECT, RECONNECT)


@dataclass(frozen=True)
class WidgetContext:
    """Who an authenticated widget request acts for: one application's customer, through one session."""

    session: ConnectSession
    application: Application
    customer: Customer

    @property
    def actor(self) -> str:
        return f"customer:{self.customer.pk}"


# --- framing and the token exchange --------------------------------------------------------------------


def widget_frame_origin(*, origin: str) -> str | None:
    """The origin the widget page may be framed by: the one asked for, if some application allows it."""
    try:
        normalised = normalize_origin(origin or "")
    except ValidationFailed:
        return None
    return normalised if selectors.origin_is_allowed_anywhere(origin=normalised) else None


@transaction.atomic
def widget_session_start(*, token: str, origin: str, providers: list[str] | None = None) -> tuple[ConnectSession, str]:
    """Redeem a connect-session token for the widget embedded on `origin`; return (session, raw credential).

    The origin must be the session's own (or, for a session made without one, one of the application's
    allowed origins); a refused origin leaves the token unused. Only the credential's SHA-256 is stored.
    """
    session = services.connect_session_lock_unused(token=token)
    try:
        origin = normalize_origin(origin or "")
    except ValidationFailed:
        raise WidgetOriginNotAllowed() from None
    if session.allowed_origin:
        allowed = origin == session.allowed_origin
    else:
        allowed = session.application.is_origin_allowed(origin)
    if not allowed:
        raise WidgetOriginNotAllowed()
    session.allowed_providers = _narrowed_providers(allowed=session.allowed_providers, requested=providers or [])
    raw = CREDENTIAL_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    session.used_at = now
    session.widget_origin = origin
    session.widget_credential_hash = hash_secret(raw)
    session.widget_credential_expires_at = now + CREDENTIAL_TTL
    session.save(
        update_fields=[
            "used_at",
            "widget_origin",
            "allowed_providers",
            "widget_credential_hash",
            "widget_credential_expires_at",
            "modified_at",
        ]
    )
    audit_record(action="connect_session.used", target=session, application=session.application, data={"via": "widget"})
    return session, raw


def _narrowed_providers(*, allowed: list[str], requested: list[str]) -> list[str]:
    """connect.js `providers` can only narrow what the session allows: names outside it are ignored, and when
    none is left the session's own list stands (an empty list means every provider)."""
    requested = [name for name in requested if name]
    if not allowed:
        return requested
    return [name for name in allowed if name in requested] or list(allowed)


def widget_authenticate(*, credential: str) -> WidgetContext:
    """The context a widget credential grants; an unknown or expired credential raises WidgetSessionEnded."""
    if not credential or not credential.startswith(CREDENTIAL_PREFIX):
        raise WidgetSessionEnded()
    digest = hash_secret(credential)
    session = selectors.widget_session_get(credential_hash=digest)
    if (
        session is None
        or not hmac.compare_digest(session.widget_credential_hash or "", digest)
        or session.widget_credential_expires_at is None
        or session.widget_credential_expires_at <= timezone.now()
    ):
        raise WidgetSessionEnded()
    return WidgetContext(session=session, application=session.application, customer=session.customer)


# --- what the widget shows and does --------------------------------------------------------------------


def widget_providers(*, context: WidgetContext, search: str = "") -> QuerySet[Provider]:
    return selectors.portal_provider_list(
        application=context.application, allowed_providers=context.session.allowed_providers, search=search
    )


def widget_connection_add(*, context: WidgetContext, provider_name: str) -> Connection:
    provider = widget_providers(context=context).filter(name=provider_name).first()
    if provider is None:
        raise ProviderNotAllowed()
    return connection_services.connection_create(
        application=context.application, customer=context.customer, provider=provider, actor=context.actor
    )


def widget_connection_get(*, context: WidgetContext, connection_id: str) -> Connection:
    connection = selectors.portal_connection_get(
        application_id=context.application.pk, customer_id=context.customer.pk, connection_id=connection_id
    )
    if connection is None:
        raise ConnectionNotFound()
    return connection


def widget_connection_disconnect(*, context: WidgetContext, connection_id: str) -> Connection:
    connection = widget_connection_get(context=context, connection_id=connection_id)
    return connection_services.connection_disconnect(connection=connection, actor=context.actor)


def widget_events(*, context: WidgetContext) -> list[dict]:
    """Every outcome since the widget opened, each with a stable key (the widget reports each key once).

    `connected`: a connection of this customer finished connecting (one per `connected_at` stamp).
    `error`: a sign-in window this customer used came back failed (consent denied, provider error, …).
    """
    since = cast(datetime, context.session.used_at)  # widget_session_start sets it with the credential
    events = [
        {
            # The selector keeps rows with connected_at >= since, so it is never None here.
            "key": f"connected:{connection.pk}:{connection.connected_at.isoformat()}",  # type: ignore[union-attr]
            "type": "connected",
            "connectionId": connection.pk,
            "provider": connection.provider.name,
            "status": connection.status,
        }
        for connection in selectors.widget_connections_completed(customer=context.customer, since=since)
    ]
    events += [
        {
            "key": f"error:{attempt.pk}",
            "type": "error",
            "connectionId": attempt.connection_id,
            "provider": attempt.provider.name,
            "code": attempt.failure_code,
        }
        for attempt in selectors.widget_attempts_failed(customer=context.customer, since=since)
    ]
    return events


# --- the sign-in window --------------------------------------------------------------------------------


def widget_popup_link(*, context: WidgetContext, connection: Connection, action: str) -> str:
    """A short-lived link that lets the popup window (first-party, with cookies) act on this one connection."""
    if action not in PopupAction.ALL:
        raise ValueError(f"Unknown popup action {action!r}; the URLconf passes only PopupAction.ALL.")
    signed = signing.TimestampSigner(salt=POPUP_LINK_SALT).sign_object(
        {"c": connection.pk, "a": connection.application_id, "u": context.customer.pk, "r": action}
    )
    return reverse("connect:widget_popup", args=[signed])


def widget_popup_resolve(*, signed: str) -> tuple[Connection, str]:
    """(connection, action) a popup link names; expired or forged links raise WidgetPopupLinkInvalid."""
    try:
        payload = signing.TimestampSigner(salt=POPUP_LINK_SALT).unsign_object(signed, max_age=POPUP_LINK_MAX_AGE)
        connection_id, application_id, customer_id, action = payload["c"], payload["a"], payload["u"], payload["r"]
    except (signing.BadSignature, KeyError, TypeError):
        raise WidgetPopupLinkInvalid() from None
    connection = selectors.portal_connection_get(
        application_id=application_id, customer_id=customer_id, connection_id=connection_id
    )
    if connection is None or action not in PopupAction.ALL:
        raise WidgetPopupLinkInvalid()
    return connection, action
