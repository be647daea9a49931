from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse


class StaffMfaRequiredMiddleware:
    """With PATCHBAY_REQUIRE_STAFF_MFA, staff without an MFA authenticator must enrol before using admin."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            settings.PATCHBAY_REQUIRE_STAFF_MFA
            and request.path.startswith("/admin/")
            and self._needs_enrolment(request)
        ):
            return redirect(f"{reverse('mfa_activate_totp')}?next={request.path}")
        return self.get_response(request)

    @staticmethod
    def _needs_enrolment(request) -> bool:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_staff:
            return False
        from allauth.mfa.models import Authenticator

        return not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
