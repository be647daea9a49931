"""WSGI entry for bench/http_list.py: Patchbay's own application (config/wsgi.py, as `make run` serves it)
plus the bare baseline views."""

import sys
import types

import config.wsgi

application = config.wsgi.application

from api_list import bare_keyset_view, bare_offset_view  # noqa: E402 - needs Django set up
from django.conf import settings  # noqa: E402
from django.urls import include, path  # noqa: E402

urls = types.ModuleType("bench_http_urls")
urls.urlpatterns = [
    path("bench/bare-keyset", bare_keyset_view),
    path("bench/bare-offset", bare_offset_view),
    path("", include("config.urls")),
]
sys.modules[urls.__name__] = urls
settings.ROOT_URLCONF = urls.__name__
