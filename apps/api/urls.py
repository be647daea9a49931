from django.http import HttpRequest, HttpResponse
from django.urls import path, re_path

from apps.api.api import api
from apps.api.errors import error_response
from apps.core.errors import NotFound


def unknown_endpoint(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Unknown paths under /api/ answer in the API's error shape, not with Django's HTML 404 page."""
    return error_response(api, request, NotFound("No API endpoint at this path."))


urlpatterns = [path("", api.urls), re_path(r"^(?P<rest>.*)$", unknown_endpoint)]
