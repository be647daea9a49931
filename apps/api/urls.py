from django.http import JsonResponse
from django.urls import path, re_path

from apps.api.api import api


def unknown_endpoint(request, rest: str = ""):
    """Unknown paths under /api/ answer in the API's error shape, not with Django's HTML 404 page."""
    body = {"error": {"code": "not_found", "message": "No API endpoint at this path.", "details": {}}}
    return JsonResponse(body, status=404)


urlpatterns = [path("", api.urls), re_path(r"^(?P<rest>.*)$", unknown_endpoint)]
