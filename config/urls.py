from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from apps.accounts.admin_site import protect_admin_login
from apps.ops.views import healthz

protect_admin_login(admin.site)

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index"), name="home"),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("catalog/", include("apps.catalog.urls")),
    path("connect/", include("apps.connect.urls")),
    path("api/", include("apps.api.urls")),
]

if settings.PATCHBAY_SANDBOX_ENABLED:
    urlpatterns.append(path("sandbox/", include("apps.sandbox.urls")))
