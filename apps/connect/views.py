"""Hosted connect pages. Each view parses the request, calls one service and renders; every ConnectError
becomes templates/connect/error.html in `connect_page`, the one place failures turn into pages."""

import json
from functools import wraps

from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.catalog.models import Provider
from apps.catalog.selectors import provider_get
from apps.connect import forms, portal, selectors, services
from apps.connect.exceptions import (
    ConnectionNotFound,
    ConnectLinkInvalid,
    PortalSessionMissing,
    ProviderNotAllowed,
    UnsupportedConnectMethod,
)
from apps.connect.presenters import connection_badge, portal_rows
from apps.connections import selectors as connection_selectors
from apps.connections import services as connection_services
from apps.connections.exceptions import ConnectError, InvalidCredentials, ProviderUnavailable, SettingsInvalid
from apps.connections.settings_spec import settings_needed_before_authorize

CREDENTIAL_AUTH_TYPES = {Provider.AuthType.API_KEY, Provider.AuthType.BASIC}

ERROR_TITLES = {
    "consent_denied": "Access was not approved",
    "state_used": "This sign-in was already used",
    "state_expired": "This sign-in expired",
    "state_unknown": "We could not match this sign-in",
    "state_provider_mismatch": "This sign-in came back from the wrong provider",
    "connector_not_configured": "This integration is not set up yet",
    "provider_unavailable": "The provider is not answering",
    "provider_rejected_code": "The provider refused the sign-in",
    "malformed_token_response": "The provider sent an unreadable answer",
    "invalid_credentials": "The provider did not accept the credentials",
    "connect_link_invalid": "This link is no longer valid",
    "connect_session_expired": "This link has expired",
    "connect_session_used": "This link was already used",
    "connect_session_invalid": "This link is not valid",
    "portal_session_missing": "Your session has ended",
}


# --- one place where failures become pages --------------------------------------------------------------


# Pages that POST a form send `same-origin` instead of `no-referrer`: under `no-referrer` browsers send
# `Origin: null` with the form (and no Referer), which Django's CSRF check must refuse. `same-origin` still
# never sends a referrer to another site, which is what the policy protects against.
FORM_PAGE_REFERRER_POLICY = "same-origin"


def form_page(response):
    response.referrer_policy = FORM_PAGE_REFERRER_POLICY
    return response


def _apply_headers(request, response):
    """No referrer, no caching on every connect page; framable only by the bound application's origins."""
    response["Referrer-Policy"] = getattr(response, "referrer_policy", "no-referrer")
    response["Cache-Control"] = "no-store"
    binding = portal.binding_get(request)
    if binding is not None:
        response.xframe_options_exempt = True
        ancestors = " ".join(binding.frame_origins) or "'none'"
        response["Content-Security-Policy"] = f"frame-ancestors {ancestors}"
    else:
        response["Content-Security-Policy"] = "frame-ancestors 'none'"
    return response


def error_page(request, exc: ConnectError):
    binding = portal.binding_get(request)
    subject = (
        selectors.portal_subject_get(application_id=binding.application_id, customer_id=binding.customer_id)
        if binding
        else None
    )
    context = {
        "application": subject[0] if subject else None,
        "title": ERROR_TITLES.get(exc.code, "The connection could not be completed"),
        "message": exc.user_message,
        "code": exc.code,
        "portal_url": reverse("connect:portal") if binding else "",
        "return_url": binding.return_url if binding else "",
    }
    return render(request, "connect/error.html", context, status=exc.http_status)


def connect_page(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            response = view(request, *args, **kwargs)
        except ConnectError as exc:
            response = error_page(request, exc)
        return _apply_headers(request, response)

    return wrapper


def _actor(request) -> str:
    binding = portal.binding_get(request)
    return f"customer:{binding.customer_id}" if binding else "connect_link"


def _granted_connection(request, connection_id: str):
    """The connection if this browser's portal binding or a finished connect link allows it; else 404."""
    binding = portal.binding_get(request)
    connection = None
    if binding is not None:
        connection = selectors.portal_connection_get(
            application_id=binding.application_id, customer_id=binding.customer_id, connection_id=connection_id
        )
    if connection is None:
        grant = portal.grant_get(request, connection_id=connection_id)
        if grant:
            connection = selectors.portal_connection_get(application_id=grant["app"], connection_id=connection_id)
    if connection is None:
        raise ConnectionNotFound()
    return connection


def _return_url(request, connection) -> str:
    binding = portal.binding_get(request)
    if binding is not None and binding.application_id == connection.application_id and binding.return_url:
        return binding.return_url
    grant = portal.grant_get(request, connection_id=connection.pk) or {}
    return grant.get("return_url", "")


def _after_auth(connection):
    if connection.missing_settings:
        return redirect("connect:setup", connection.pk)
    return redirect("connect:done", connection.pk)


def _settings_page(request, *, connection, specs, values, errors=None, action, before_authorize, status=200):
    context = {
        "connection": connection,
        "provider": connection.provider,
        "application": connection.application,
        "fields": forms.settings_fields(specs, values=values, errors=errors),
        "action": action,
        "before_authorize": before_authorize,
        "return_url": _return_url(request, connection),
    }
    return form_page(render(request, "connect/settings.html", context, status=status))


def _credentials_page(request, *, connection, action, errors=None, message="", values=None, status=200):
    context = {
        "connection": connection,
        "provider": connection.provider,
        "application": connection.application,
        "fields": forms.credential_fields(connection.provider, errors=errors, values=values),
        "action": action,
        "message": message,
        "return_url": _return_url(request, connection),
    }
    return form_page(render(request, "connect/credentials.html", context, status=status))


def _credentials_flow(request, *, connection, action):
    """GET: the provider's credential form. POST: verify at the provider, then store; errors re-render."""
    if request.method == "POST":
        values, errors = forms.credentials_from_post(connection.provider, request.POST)
        if errors:
            return _credentials_page(request, connection=connection, action=action, errors=errors, status=422)
        try:
            connection = connection_services.connection_store_api_credentials(
                connection=connection, credentials=values, actor=_actor(request)
            )
        except SettingsInvalid as exc:
            return _credentials_page(request, connection=connection, action=action, errors=exc.errors, status=422)
        except (InvalidCredentials, ProviderUnavailable) as exc:
            return _credentials_page(
                request, connection=connection, action=action, message=exc.user_message, values=values, status=422
            )
        portal.grant_add(request, connection=connection)
        return _after_auth(connection)
    return _credentials_page(request, connection=connection, action=action)


# --- the connect link, the callback, settings and result pages ------------------------------------------


@connect_page
@require_http_methods(["GET", "POST"])
def connect_start(request, token: str):
    """`/connect/start/<token>`: re-usable until authenticated; every visit issues a fresh provider redirect."""
    connection = connection_selectors.connection_get_by_connect_token(token=token)
    if connection is None:
        raise ConnectLinkInvalid()
    portal.grant_add(request, connection=connection)
    if not connection.is_authentication_pending:
        return _after_auth(connection)
    provider = connection.provider
    if provider.auth_type in CREDENTIAL_AUTH_TYPES:
        return _credentials_flow(request, connection=connection, action=request.path)
    if provider.auth_type != Provider.AuthType.OAUTH2:
        raise UnsupportedConnectMethod()
    needed = settings_needed_before_authorize(provider=provider, settings=connection.settings)
    if needed:
        if request.method != "POST":
            return _settings_page(
                request,
                connection=connection,
                specs=needed,
                values=connection.settings,
                action=request.path,
                before_authorize=True,
            )
        cleaned, errors = forms.settings_clean(provider=provider, specs=needed, data=request.POST)
        if errors:
            return _settings_page(
                request,
                connection=connection,
                specs=needed,
                values=cleaned,
                errors=errors,
                action=request.path,
                before_authorize=True,
                status=422,
            )
        connection_services.connection_update_settings(connection=connection, settings=cleaned, actor=_actor(request))
        return redirect(request.path)
    authorize_url = services.oauth_attempt_start(
        connection=connection, return_url=_return_url(request, connection), actor=_actor(request)
    )
    return redirect(authorize_url)


@connect_page
@require_GET
def oauth_callback(request, provider: str):
    """`/connect/callback/<provider>`: the provider sends the person back here with `code` and `state`."""
    # The callback proves possession of the state, not who the browser is: audit it as the connect link.
    result = services.oauth_callback_complete(provider_name=provider, params=request.GET.dict(), actor="connect_link")
    portal.grant_add(request, connection=result.connection, return_url=result.return_url)
    return _after_auth(result.connection)


@connect_page
@require_http_methods(["GET", "POST"])
def connection_setup(request, connection_id: str):
    """The settings the provider still needs, built from its catalog spec."""
    connection = _granted_connection(request, connection_id)
    provider = connection.provider
    specs = [spec for spec in provider.settings_spec if spec.get("source", "user") == "user"]
    action = reverse("connect:setup", args=[connection.pk])
    if request.method == "POST":
        cleaned, errors = forms.settings_clean(provider=provider, specs=specs, data=request.POST)
        if not errors:
            try:
                connection = connection_services.connection_update_settings(
                    connection=connection, settings=cleaned, actor=_actor(request)
                )
            except SettingsInvalid as exc:
                errors = exc.errors
        if errors:
            return _settings_page(
                request,
                connection=connection,
                specs=specs,
                values=cleaned,
                errors=errors,
                action=action,
                before_authorize=False,
                status=422,
            )
        return _after_auth(connection)
    return _settings_page(
        request, connection=connection, specs=specs, values=connection.settings, action=action, before_authorize=False
    )


@connect_page
@require_GET
def connection_done(request, connection_id: str):
    connection = _granted_connection(request, connection_id)
    if connection.is_authentication_pending:
        return redirect(connection.authorization_path)
    if connection.missing_settings:
        return redirect("connect:setup", connection.pk)
    binding = portal.binding_get(request)
    notify = {
        "type": "patchbay:connection.connected",
        "connection_id": connection.pk,
        "provider": connection.provider.name,
    }
    context = {
        "connection": connection,
        "provider": connection.provider,
        "application": connection.application,
        "badge": connection_badge(connection),
        "return_url": _return_url(request, connection),
        "portal_url": reverse("connect:portal") if binding else "",
        "notify_origin": binding.origin if binding else "",
        "notify_payload": json.dumps(notify),
    }
    return render(request, "connect/done.html", context)


@connect_page
@require_POST
def setting_validate(request, provider: str, name: str):
    """htmx inline validation: re-draws one settings field with its error."""
    provider_obj = provider_get(name=provider)
    field = forms.setting_validate(provider=provider_obj, name=name, data=request.POST) if provider_obj else None
    if field is None:
        raise Http404("Unknown setting")
    return render(request, "connect/settings.html#field", {"field": field, "provider": provider_obj})


# --- connect sessions, signed links and the customer portal ---------------------------------------------


@connect_page
@require_GET
def connect_session_open(request, token: str):
    """`/connect/session/<token>`: single use; binds this browser to the customer, then shows the portal."""
    session = services.connect_session_redeem(token=token)
    portal.binding_store(
        request,
        application=session.application,
        customer_id=session.customer_id,
        allowed_providers=session.allowed_providers,
        origin=session.allowed_origin,
        return_url=session.return_url,
        ttl=session.expires_at - session.created_at,
    )
    return redirect("connect:portal")


@connect_page
@require_GET
def portal_link_open(request, signed: str):
    payload = services.customer_portal_link_resolve(signed=signed)
    subject = selectors.portal_subject_get(application_id=payload["application_id"], customer_id=payload["customer_id"])
    if subject is None:
        raise ConnectLinkInvalid()
    application, customer = subject
    portal.binding_store(request, application=application, customer_id=customer.pk, ttl=payload["ttl"])
    return redirect("connect:portal")


def _portal_subject(request):
    binding = portal.binding_get(request)
    if binding is None:
        raise PortalSessionMissing()
    subject = selectors.portal_subject_get(application_id=binding.application_id, customer_id=binding.customer_id)
    if subject is None:
        raise PortalSessionMissing()
    return binding, *subject


def _portal_connection(request, connection_id: str):
    binding, application, customer = _portal_subject(request)
    connection = selectors.portal_connection_get(
        application_id=application.pk, customer_id=customer.pk, connection_id=connection_id
    )
    if connection is None:
        raise ConnectionNotFound()
    return binding, connection


def _portal_context(request, binding, application, customer, *, search="", category=""):
    rows, polling = portal_rows(connection_selectors.connection_list_for_customer(customer=customer))
    providers = list(
        selectors.portal_provider_list(
            application=application, allowed_providers=binding.allowed_providers, search=search, category=category
        )
    )
    return {
        "application": application,
        "customer": customer,
        "rows": rows,
        "polling": polling,
        "providers": providers,
        "search": search,
        "category": category,
        "return_url": binding.return_url,
        "notify_origin": binding.origin,
    }


@connect_page
@require_GET
def portal_home(request):
    binding, application, customer = _portal_subject(request)
    context = _portal_context(request, binding, application, customer)
    context["categories"] = selectors.portal_categories(providers=context["providers"])
    return form_page(render(request, "connect/portal.html", context))


@connect_page
@require_GET
def portal_connections(request):
    """htmx: the connection list with fresh badges (polled while something is pending)."""
    _binding, _application, customer = _portal_subject(request)
    rows, polling = portal_rows(connection_selectors.connection_list_for_customer(customer=customer))
    return form_page(render(request, "connect/portal.html#connections", {"rows": rows, "polling": polling}))


@connect_page
@require_GET
def portal_providers(request):
    """htmx: the provider picker filtered by search text and category."""
    binding, application, _customer = _portal_subject(request)
    providers = selectors.portal_provider_list(
        application=application,
        allowed_providers=binding.allowed_providers,
        search=request.GET.get("q", ""),
        category=request.GET.get("category", ""),
    )
    return form_page(render(request, "connect/portal.html#providers", {"providers": providers}))


@connect_page
@require_POST
def portal_add(request, provider: str):
    binding, application, customer = _portal_subject(request)
    provider_obj = (
        selectors.portal_provider_list(application=application, allowed_providers=binding.allowed_providers)
        .filter(name=provider)
        .first()
    )
    if provider_obj is None:
        raise ProviderNotAllowed()
    connection = connection_services.connection_create(
        application=application, customer=customer, provider=provider_obj, actor=f"customer:{customer.pk}"
    )
    portal.grant_add(request, connection=connection)
    if connection.is_authentication_pending:
        return redirect(connection.authorization_path)
    return _after_auth(connection)


@connect_page
@require_POST
def portal_reconnect(request, connection_id: str):
    """Reconnect from the portal: a fresh OAuthAttempt (or the credential form) even when not pending."""
    binding, connection = _portal_connection(request, connection_id)
    portal.grant_add(request, connection=connection)
    if connection.is_authentication_pending:
        return redirect(connection.authorization_path)
    auth_type = connection.provider.auth_type
    if auth_type in CREDENTIAL_AUTH_TYPES:
        return redirect("connect:portal_credentials", connection.pk)
    if auth_type == Provider.AuthType.OAUTH2:
        return redirect(
            services.oauth_attempt_start(
                connection=connection, return_url=binding.return_url, actor=f"customer:{binding.customer_id}"
            )
        )
    connection_services.connection_refresh_credentials(connection_id=connection.pk, force=True)
    return redirect("connect:portal")


@connect_page
@require_http_methods(["GET", "POST"])
def portal_credentials(request, connection_id: str):
    _binding, connection = _portal_connection(request, connection_id)
    if connection.provider.auth_type not in CREDENTIAL_AUTH_TYPES:
        raise UnsupportedConnectMethod()
    return _credentials_flow(request, connection=connection, action=request.path)


@connect_page
@require_POST
def portal_disconnect(request, connection_id: str):
    binding, connection = _portal_connection(request, connection_id)
    connection_services.connection_disconnect(connection=connection, actor=f"customer:{binding.customer_id}")
    return redirect("connect:portal")
