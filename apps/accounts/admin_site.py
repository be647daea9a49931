"""The Django admin behind allauth: one login page (with MFA), staff only, a clear page for everyone else."""

from functools import wraps

from allauth.account.decorators import secure_admin_login
from django.shortcuts import render


def staff_only_response(request):
    return render(request, "account/staff_only.html", status=403)


def _deny_non_staff(login_view):
    """allauth's secure_admin_login raises a bare 403 for non-staff; show them who they are and how to leave."""

    @wraps(login_view)
    def view(request, *args, **kwargs):
        user = request.user
        if user.is_authenticated and not (user.is_active and user.is_staff):
            return staff_only_response(request)
        return login_view(request, *args, **kwargs)

    return view


def protect_admin_login(site) -> None:
    """Send the admin's own login form through allauth (and so through MFA); non-staff get a 403 page."""
    site.login = _deny_non_staff(secure_admin_login(site.login))
