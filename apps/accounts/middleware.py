from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode


class StaffMfaRequiredMiddleware:
    """With PATCHBAY_REQUIRE_STAFF_MFA, staff without a TOTP authenticator must enrol before using the admin.

    Only admin pages are gated, so the enrolment pages under /accounts/2fa/ and logout stay reachable.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.PATCHBAY_REQUIRE_STAFF_MFA and self._is_gated_path(request.path) and self._needs_enrolment(request):
            messages.warning(request, "Staff accounts must set up two-factor authentication before using the admin.")
            return redirect(f"{reverse('mfa_activate_totp')}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)

    @staticmethod
    def _is_gated_path(path: str) -> bool:
        admin_root = reverse("admin:index")
        return path.startswith(admin_root) and path not in {reverse("admin:logout"), reverse("admin:login")}

    @staticmethod
    def _needs_enrolment(request) -> bool:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_staff:
            return False
        from allauth.mfa.models import Authenticator
        from allauth.mfa.utils import is_mfa_enabled

        return not is_mfa_enabled(user, [Authenticator.Type.TOTP])
