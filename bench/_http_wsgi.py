"""WSGI entry for bench/http_list.py: Patchbay's own application plus the bare baseline views."""

import types

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.urls import include, path

application = get_wsgi_application()

from api_list import bare_keyset_view, bare_offset_view  # noqa: E402 - needs Django set up

urls = types.ModuleType("bench_http_urls")
urls.urlpatterns = [
    path("bench/bare-keyset", bare_keyset_view),
    path("bench/bare-offset", bare_offset_view),
    path("", include("config.urls")),
]
import sys  # noqa: E402

sys.modules[urls.__name__] = urls
settings.ROOT_URLCONF = urls.__name__
