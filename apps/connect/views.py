"""Hosted connect pages: a view of the connect flow turns the request into a call to `apps.connect.flows`
and the outcome into a response (`_render_outcome`); opening a connect session or portal link calls its
service, and the portal's list pages read through selectors. Every PatchbayError becomes
templates/connect/error.html in `error_page`, the one place failures turn into pages."""

from functools import wraps
from typing import Any

from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.catalog.selectors import provider_get
from apps.connect import flows, forms, portal, selectors, services
from apps.connect.exceptions import ConnectLinkInvalid
from apps.connect.links import start_path
from apps.connect.presenters import connection_badge, portal_rows
from apps.connections import selectors as connection_selectors
from apps.core.errors import PatchbayError
from apps.tenants.models import Application, Customer

# --- one place where failures become pages --------------------------------------------------------------


# Pages that POST a form send `same-origin` instead of `no-referrer`: under `no-referrer` browsers send
# `Origin: null` with the form (and no Referer), which Django's CSRF check must refuse. `same-origin` still
# never sends a referrer to another site, which is what the policy protects against.
FORM_PAGE_REFERRER_POLICY = "same-origin"


def form_page(response):
    response.referrer_policy = FORM_PAGE_REFERRER_POLICY
    return response


def _apply_headers(request, response):
    """No referrer, no caching on every connect page; framable only by the bound application's origins.

    These pages run in the widget's sign-in window: with COOP `unsafe-none` the widget that opened the window
    keeps its handle and sees the window close (`same-origin` would sever it at the first page, so a closed
    window and a working one would look alike). The outcome itself never travels through that handle."""
    response["Referrer-Policy"] = getattr(response, "referrer_policy", "no-referrer")
    response["Cache-Control"] = "no-store"
    response["Cross-Origin-Opener-Policy"] = "unsafe-none"
    binding = portal.binding_get(request)
    if binding is not None:
        response.xframe_options_exempt = True
        ancestors = " ".join(binding.frame_origins) or "'none'"
        response["Content-Security-Policy"] = f"frame-ancestors {ancestors}"
    else:
        response["Content-Security-Policy"] = "frame-ancestors 'none'"
    return response


def error_page(request, exc: PatchbayError):
    if portal.popup_active(request):
        return _popup_finish_page(request, exc=exc)
    binding = portal.binding_get(request)
    subject = (
        selectors.portal_subject_get(application_id=binding.application_id, customer_id=binding.customer_id)
        if binding
        else None
    )
    context = {
        "application": subject[0] if subject else None,
        "error": exc,
        "portal_url": reverse("connect:portal") if binding else "",
        "return_url": binding.return_url if binding else "",
    }
    return render(request, "connect/error.html", context, status=exc.status)


def _popup_finish_page(request, *, connection=None, exc: PatchbayError | None = None):
    """The last page of the widget's sign-in window: the outcome in one line, then the window closes itself.
    The widget shows the outcome too (it learns it from the server), so nothing here leads anywhere."""
    if connection is not None:
        application = connection.application
    else:  # an error: the window still wears the brand of the application that opened it, when known
        application = selectors.popup_application_get(application_id=portal.popup_application_id(request))
    context = {
        "connection": connection,
        "provider": connection.provider if connection else None,
        "application": application,
        "error": exc,
    }
    return render(request, "connect/popup_finished.html", context, status=exc.status if exc else 200)


def connect_page(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            response = view(request, *args, **kwargs)
        except PatchbayError as exc:
            response = error_page(request, exc)
        return _apply_headers(request, response)

    return wrapper


def _render_outcome(request, outcome: flows.Outcome, *, action: str = ""):
    """The response for a flow's outcome; `action` is where the page's form posts back to."""
    visitor = portal.visitor_get(request)
    match outcome:
        case flows.Error(error=error):
            return error_page(request, error)
        case flows.RedirectToProvider(url=url):
            return redirect(url)
        case flows.ResumeAtStart(connection=connection):
            return redirect(start_path(connection))
        case flows.NeedsSettings(connection=connection):
            return redirect("connect:setup", connection.pk)
        case flows.Done(connection=connection):
            return redirect("connect:done", connection.pk)
        case flows.CredentialsReentry(connection=connection):
            return redirect("connect:portal_credentials", connection.pk)
        case flows.BackToPortal():
            return redirect("connect:portal")
        case flows.SettingsForm(connection=connection):
            context = {
                "connection": connection,
                "provider": connection.provider,
                "application": connection.application,
                "fields": forms.settings_fields(
                    outcome.specs, values=outcome.values, errors=outcome.errors, options=outcome.options
                ),
                "action": action,
                "before_authorize": outcome.before_authorize,
                "return_url": visitor.return_url_for(connection),
            }
            return form_page(render(request, "connect/settings.html", context, status=outcome.status))
        case flows.SettingChoice(connection=connection):
            field = forms.setting_field(outcome.spec, value=outcome.value, options=outcome.options, listing=True)
            context = {"field": field, "provider": connection.provider, "connection": connection}
            return render(request, "connect/settings.html#field", context)
        case flows.CredentialsForm(connection=connection):
            context = {
                "connection": connection,
                "provider": connection.provider,
                "application": connection.application,
                "fields": forms.credential_fields(connection.provider, errors=outcome.errors, values=outcome.values),
                "action": action,
                "message": outcome.message,
                "return_url": visitor.return_url_for(connection),
            }
            return form_page(render(request, "connect/credentials.html", context, status=outcome.status))
    raise TypeError(f"No response for {outcome!r}")


def _granting(request, outcome: flows.Outcome) -> flows.Outcome:
    """Let this browser see the setup and result pages of the connection the outcome is about."""
    connection = getattr(outcome, "connection", None)
    if connection is not None:
        portal.grant_add(request, connection=connection, return_url=getattr(outcome, "return_url", ""))
    return outcome


# --- the connect link, the callback, settings and result pages ------------------------------------------


@connect_page
@require_http_methods(["GET", "POST"])
def connect_start(request, token: str):
    """`/connect/start/<token>`: the link a person opens to connect."""
    visitor = portal.visitor_get(request)
    if request.method == "POST":
        outcome = flows.start_submit(token=token, visitor=visitor, data=request.POST)
    else:
        outcome = flows.start(token=token, visitor=visitor)
    return _render_outcome(request, _granting(request, outcome), action=request.path)


@connect_page
@require_GET
def oauth_callback(request, provider: str):
    """`/connect/callback/<provider>`: the provider sends the person back here with `code` and `state`."""
    outcome = flows.callback(provider_name=provider, params=request.GET.dict())
    return _render_outcome(request, _granting(request, outcome))


@connect_page
@require_http_methods(["GET", "POST"])
def connection_setup(request, connection_id: str):
    """The settings the provider still needs, built from its catalog spec."""
    visitor = portal.visitor_get(request)
    if request.method == "POST":
        outcome = flows.setup_submit(connection_id=connection_id, visitor=visitor, data=request.POST)
    else:
        outcome = flows.setup(connection_id=connection_id, visitor=visitor)
    return _render_outcome(request, outcome, action=reverse("connect:setup", args=[connection_id]))


@connect_page
@require_GET
def setting_choices(request, connection_id: str, name: str):
    """htmx: one setting's choices again, for the values picked so far (a dependent list)."""
    outcome = flows.setting_choices(
        connection_id=connection_id, visitor=portal.visitor_get(request), name=name, data=request.GET
    )
    return _render_outcome(request, outcome)


@connect_page
@require_GET
def connection_done(request, connection_id: str):
    visitor = portal.visitor_get(request)
    outcome = flows.result(connection_id=connection_id, visitor=visitor)
    if not isinstance(outcome, flows.Done):
        return _render_outcome(request, outcome)
    connection = outcome.connection
    if visitor.in_popup:
        return _popup_finish_page(request, connection=connection)
    binding = visitor.binding
    context = {
        "connection": connection,
        "provider": connection.provider,
        "application": connection.application,
        "badge": connection_badge(connection),
        "return_url": visitor.return_url_for(connection),
        "portal_url": reverse("connect:portal") if binding else "",
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


def _portal_context(
    visitor: portal.Visitor, application: Application, customer: Customer, *, search: str = "", category: str = ""
) -> dict[str, Any]:
    binding = flows.portal_binding(visitor)
    rows, polling = portal_rows(connection_selectors.connection_list_for_customer(customer=customer))
    providers = list(
        selectors.portal_provider_list(
            application=application,
            allowed_providers=binding.allowed_providers,
            search=search,
            category=category,
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
    }


@connect_page
@require_GET
def portal_home(request):
    visitor = portal.visitor_get(request)
    application, customer = flows.portal_subject(visitor)
    context = _portal_context(visitor, application, customer)
    context["categories"] = selectors.portal_categories(providers=context["providers"])
    return form_page(render(request, "connect/portal.html", context))


@connect_page
@require_GET
def portal_connections(request):
    """htmx: the connection list with fresh badges (polled while something is pending)."""
    _application, customer = flows.portal_subject(portal.visitor_get(request))
    rows, polling = portal_rows(connection_selectors.connection_list_for_customer(customer=customer))
    return form_page(render(request, "connect/portal.html#connections", {"rows": rows, "polling": polling}))


@connect_page
@require_GET
def portal_providers(request):
    """htmx: the provider picker filtered by search text and category."""
    visitor = portal.visitor_get(request)
    application, _customer = flows.portal_subject(visitor)
    providers = selectors.portal_provider_list(
        application=application,
        allowed_providers=flows.portal_binding(visitor).allowed_providers,
        search=request.GET.get("q", ""),
        category=request.GET.get("category", ""),
    )
    return form_page(render(request, "connect/portal.html#providers", {"providers": providers}))


@connect_page
@require_POST
def portal_add(request, provider: str):
    outcome = flows.portal_add(provider_name=provider, visitor=portal.visitor_get(request))
    return _render_outcome(request, _granting(request, outcome))


@connect_page
@require_POST
def portal_reconnect(request, connection_id: str):
    outcome = flows.reconnect(connection_id=connection_id, visitor=portal.visitor_get(request))
    return _render_outcome(request, _granting(request, outcome))


@connect_page
@require_http_methods(["GET", "POST"])
def portal_credentials(request, connection_id: str):
    visitor = portal.visitor_get(request)
    if request.method == "POST":
        outcome = flows.credentials_submit(connection_id=connection_id, visitor=visitor, data=request.POST)
    else:
        outcome = flows.credentials_form(connection_id=connection_id, visitor=visitor)
    return _render_outcome(request, outcome, action=request.path)


@connect_page
@require_POST
def portal_disconnect(request, connection_id: str):
    return _render_outcome(request, flows.disconnect(connection_id=connection_id, visitor=portal.visitor_get(request)))


# --- the embedded widget's sign-in window (first-party: cookies work here) -------------------------------


@connect_page
@require_GET
def widget_popup(request, signed: str):
    """`/connect/widget/popup/<signed>`: the first page of the sign-in window the widget opened."""
    portal.popup_mark(request)  # first: a void link's error page is this window's last page too
    outcome = _granting(request, flows.widget_popup(signed=signed, visitor=portal.visitor_get(request)))
    if (connection := getattr(outcome, "connection", None)) is not None:
        portal.popup_mark(request, application_id=connection.application_id)
    return _render_outcome(request, outcome)
