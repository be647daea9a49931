"""The embedded widget's HTTP surface. Each view parses, calls apps/connect/widget.py (the connection list:
its selector) and renders.

Inside the iframe nothing depends on a cookie: requests carry the widget credential in the
`X-Patchbay-Widget` header (htmx `hx-headers`, or widget.js). That header is also the CSRF defence: a
cross-site page cannot attach it, and requests a browser marks as cross-site are refused outright.
"""

from functools import wraps
from urllib.parse import urlsplit

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from apps.connect import widget
from apps.connect.exceptions import CrossSiteWidgetRequest
from apps.connect.presenters import portal_rows
from apps.connections import selectors as connection_selectors
from apps.core.errors import PatchbayError, error_body


def _own_origin() -> str:
    parts = urlsplit(settings.PATCHBAY_BASE_URL)
    return f"{parts.scheme}://{parts.netloc}"


def _is_cross_site(request) -> bool:
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site and fetch_site not in {"same-origin", "none"}:
        return True
    origin = request.headers.get("Origin")
    return bool(origin) and origin != _own_origin()


def _cross_site_refused() -> JsonResponse:
    return _no_store(_error(CrossSiteWidgetRequest()))


def _error(exc: PatchbayError) -> JsonResponse:
    return JsonResponse(error_body(exc), status=exc.status)


def _no_store(response, *, frame_origin: str = ""):
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    if frame_origin:
        response.xframe_options_exempt = True
    response["Content-Security-Policy"] = f"frame-ancestors {frame_origin or "'none'"}"
    return response


def widget_request(view):
    """Refuse cross-site requests, authenticate the widget credential header, answer failures as JSON."""

    @csrf_exempt
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if _is_cross_site(request):
            return _cross_site_refused()
        try:
            context = widget.widget_authenticate(credential=request.headers.get(widget.CREDENTIAL_HEADER, ""))
            response = view(request, context, *args, **kwargs)
        except PatchbayError as exc:
            return _no_store(_error(exc))
        return _no_store(response, frame_origin=context.session.widget_origin)

    return wrapper


# A phone-sized list: the first providers, and search for the rest.
PROVIDERS_SHOWN = 30


def _providers_context(context: widget.WidgetContext, *, search: str = "") -> dict:
    providers = widget.widget_providers(context=context, search=search)
    return {"providers": providers[:PROVIDERS_SHOWN], "providers_total": providers.count()}


def _connections_context(context: widget.WidgetContext) -> dict:
    rows, _polling = portal_rows(connection_selectors.connection_list_for_customer(customer=context.customer))
    return {"rows": rows}


# --- the page the iframe loads, and the token exchange -------------------------------------------------


@require_GET
def widget_page(request):
    """`/connect/widget/?origin=<host origin>`: the shell connect.js frames. It holds nothing until the host
    posts the session token; only an origin some application allows may frame it."""
    frame_origin = widget.widget_frame_origin(origin=request.GET.get("origin", ""))
    context = {"parent_origin": frame_origin or "", "shell": True}
    return _no_store(render(request, "connect/widget.html", context), frame_origin=frame_origin or "")


@csrf_exempt
@require_POST
def widget_session(request):
    """Exchange the session token (sent by widget.js in the body, never a URL) for the widget credential."""
    if _is_cross_site(request):
        return _cross_site_refused()
    try:
        session, credential = widget.widget_session_start(
            token=request.POST.get("token", ""),
            origin=request.POST.get("origin", ""),
            providers=request.POST.get("providers", "").split(","),
        )
    except PatchbayError as exc:
        return _no_store(_error(exc))
    context = widget.WidgetContext(session=session, application=session.application, customer=session.customer)
    page = {
        "application": context.application,
        "customer": context.customer,
        "credential": credential,
        "credential_header": widget.CREDENTIAL_HEADER,
        **_providers_context(context),
        **_connections_context(context),
    }
    response = render(request, "connect/widget.html#app", page)
    return _no_store(response, frame_origin=session.widget_origin)


# --- what the widget shows -----------------------------------------------------------------------------


@widget_request
@require_GET
def widget_connections(request, context):
    return render(request, "connect/widget.html#connections", _connections_context(context))


@widget_request
@require_GET
def widget_providers(request, context):
    page = _providers_context(context, search=request.GET.get("q", "")[:100])
    return render(request, "connect/widget.html#providers", page)


@widget_request
@require_GET
def widget_events(request, context):
    return JsonResponse({"events": widget.widget_events(context=context)})


# --- what the widget does ------------------------------------------------------------------------------


def _popup(context, connection, action: str) -> JsonResponse:
    return JsonResponse(
        {
            "popupUrl": widget.widget_popup_link(context=context, connection=connection, action=action),
            "connectionId": connection.pk,
            "provider": connection.provider.name,
        }
    )


@widget_request
@require_POST
def widget_add(request, context, provider: str):
    """Create the connection, then hand widget.js the link its sign-in window opens."""
    connection = widget.widget_connection_add(context=context, provider_name=provider)
    return _popup(context, connection, widget.PopupAction.CONNECT)


@widget_request
@require_POST
def widget_open(request, context, connection_id: str, action: str):
    connection = widget.widget_connection_get(context=context, connection_id=connection_id)
    return _popup(context, connection, action)


@widget_request
@require_POST
def widget_disconnect(request, context, connection_id: str):
    widget.widget_connection_disconnect(context=context, connection_id=connection_id)
    return render(request, "connect/widget.html#connections", _connections_context(context))
