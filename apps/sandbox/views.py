"""The sandbox provider's pages: a name-only sign-in, DOT's consent page and a tiny protected API."""

from functools import wraps

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods
from oauth2_provider.views import AuthorizationView, ProtectedResourceView

from apps.sandbox import services
from apps.sandbox.exceptions import SandboxNameTaken

SESSION_KEY = "sandbox_user_id"


def keeps_opener(view):
    """Sign-in pages a popup shows send COOP `unsafe-none`, as most providers do, so the embedded widget that
    opened the window can tell when the person closes it (apps/connect/views.py explains why)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["Cross-Origin-Opener-Policy"] = "unsafe-none"
        return response

    return wrapper


def _sandbox_user(request):
    """The sandbox identity signed in on this browser, kept apart from Django's own login."""
    user_id = request.session.get(SESSION_KEY)
    if not user_id:
        return None
    return get_user_model().objects.filter(pk=user_id, sandbox_identity__isnull=False, is_staff=False).first()


def _safe_next(request, value: str) -> str:
    authorize_path = reverse("sandbox:authorize")
    if (
        value
        and value.startswith(authorize_path)
        and url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()})
    ):
        return value
    return reverse("sandbox:home")


@keeps_opener
@require_http_methods(["GET", "POST"])
def sandbox_login(request):
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next", ""))
    error = ""
    if request.method == "POST":
        display_name = (request.POST.get("display_name") or "").strip()
        if not display_name:
            error = "Type any name to sign in to the sandbox."
        else:
            try:
                user = services.sandbox_user_get_or_create(display_name=display_name)
            except SandboxNameTaken as exc:
                error = exc.message
            else:
                request.session.cycle_key()
                request.session[SESSION_KEY] = user.pk
                return redirect(next_url)
    return render(
        request,
        "sandbox/login.html",
        {"next": next_url, "error": error, "display_name": request.POST.get("display_name", "")},
        status=400 if error else 200,
    )


@require_http_methods(["POST"])
def sandbox_logout(request):
    request.session.pop(SESSION_KEY, None)
    return redirect(_safe_next(request, request.POST.get("next", "")))


@require_GET
def sandbox_home(request):
    return render(request, "sandbox/home.html", {"sandbox_user": _sandbox_user(request)})


class SandboxAuthorizationView(AuthorizationView):
    """DOT's consent page, signed in with the sandbox identity instead of a Django staff login."""

    template_name = "oauth2_provider/authorize.html"
    login_url = reverse_lazy("sandbox:login")

    @method_decorator(keeps_opener)
    def dispatch(self, request, *args, **kwargs):
        request.user = _sandbox_user(request) or AnonymousUser()
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["sandbox_user"] = self.request.user
        return context


class SandboxMeView(ProtectedResourceView):
    """`GET /sandbox/api/me`: who the access token belongs to (the provider's verification request)."""

    def get(self, request, *args, **kwargs):
        user = request.resource_owner
        if getattr(user, "sandbox_identity", None) is None:
            return JsonResponse({"error": "invalid_token", "message": "Not a sandbox account."}, status=403)
        return JsonResponse(
            {
                "id": f"sbx_user_{user.pk}",
                "name": user.sandbox_identity.display_name,
                "workspace_hint": services.sandbox_workspace_hint(user=user),
            }
        )


class SandboxWorkspacesView(ProtectedResourceView):
    """`GET /sandbox/api/workspaces`: the workspaces the token's account can read (the settings form's choices)."""

    def get(self, request, *args, **kwargs):
        user = request.resource_owner
        if getattr(user, "sandbox_identity", None) is None:
            return JsonResponse({"error": "invalid_token", "message": "Not a sandbox account."}, status=403)
        return JsonResponse({"workspaces": services.sandbox_workspaces(user=user)})


@csrf_exempt
@require_http_methods(["GET", "POST"])
def sandbox_key_check(request):
    """`GET /sandbox/api/key-check`: accepts `Authorization: Bearer sk_sandbox_…`, 401 JSON otherwise."""
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return JsonResponse(
            {"error": "missing_api_key", "message": "Send the key as 'Authorization: Bearer sk_sandbox_…'."},
            status=401,
        )
    if not services.sandbox_api_key_is_valid(key.strip()):
        return JsonResponse(
            {"error": "invalid_api_key", "message": "Sandbox API keys start with sk_sandbox_ (e.g. sk_sandbox_demo)."},
            status=401,
        )
    return JsonResponse({"ok": True, "key_prefix": key.strip()[:14]})
