"""A process remembers the API keys it authenticated, so a list page spends no query on its key, and still
sees a revocation, a deletion or an edited application on the very next request."""

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.tenants.key_generation import api_keys_changed
from apps.tenants.models import ApiKey
from apps.tenants.services import api_key_revoke

pytestmark = pytest.mark.django_db


def key_lookups(api, path: str) -> tuple[int, int]:
    with CaptureQueriesContext(db_connection) as ctx:
        response = api.client.get(path, headers=api.headers)
    return response.status_code, sum('"tenants_apikey"' in q["sql"] and "SELECT" in q["sql"] for q in ctx)


def test_a_remembered_key_costs_no_query(api):
    assert key_lookups(api, "/api/v1/connections") == (200, 1)
    assert key_lookups(api, "/api/v1/connections") == (200, 0)


def test_a_revoked_key_is_refused_on_the_next_request(api, api_key):
    assert key_lookups(api, "/api/v1/connections") == (200, 1)
    api_key_revoke(api_key=api_key[0])
    assert key_lookups(api, "/api/v1/connections") == (401, 1)


def test_a_key_revoked_in_bulk_is_refused_once_the_change_is_announced(api, api_key):
    assert api.get("/api/v1/connections").status_code == 200
    ApiKey.objects.filter(pk=api_key[0].pk).update(revoked_at=timezone.now())
    api_keys_changed()
    assert api.get("/api/v1/connections").status_code == 401


def test_a_deleted_applications_keys_are_refused(api, application):
    assert api.get("/api/v1/connections").status_code == 200
    application.delete()
    assert api.get("/api/v1/connections").status_code == 401


def test_an_application_edited_elsewhere_is_seen_on_the_next_request(api, application):
    assert api.get("/api/v1/application").json()["webhook_url"] == ""
    application.webhook_url = "https://example.com/hooks"
    application.save()
    assert api.get("/api/v1/application").json()["webhook_url"] == "https://example.com/hooks"


def test_a_request_changing_its_application_does_not_change_what_others_are_handed(api):
    assert api.get("/api/v1/application").status_code == 200
    response = api.patch("/api/v1/application", {"webhook_url": "not a url"})
    assert response.status_code == 422
    assert api.get("/api/v1/application").json()["webhook_url"] == ""
