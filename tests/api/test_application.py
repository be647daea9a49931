"""`/api/v1/application`: an application manages its widget origins and webhook URL through the API."""

import pytest

from apps.audit.models import AuditEvent
from tests.audit.stored import audit_table_text
from tests.factories import ApplicationFactory

pytestmark = pytest.mark.django_db


def test_get_shows_the_callers_application_only(api, application):
    ApplicationFactory(allowed_origins=["https://other.example"])
    body = api.get("/api/v1/application").json()
    assert body == {
        "id": application.pk,
        "name": application.name,
        "slug": application.slug,
        "allowed_origins": application.allowed_origins,
        "webhook_url": application.webhook_url,
    }


def test_patch_replaces_origins_normalised_and_sets_the_webhook_url(api, application):
    response = api.patch(
        "/api/v1/application",
        {
            "allowed_origins": ["https://App.Example.com", "http://localhost:3000/", "https://app.example.com"],
            "webhook_url": "https://hooks.example.com/patchbay",
        },
    )
    assert response.status_code == 200, response.content
    assert response.json()["allowed_origins"] == ["https://app.example.com", "http://localhost:3000"]
    application.refresh_from_db()
    assert application.allowed_origins == ["https://app.example.com", "http://localhost:3000"]
    assert application.webhook_url == "https://hooks.example.com/patchbay"
    assert AuditEvent.objects.filter(action="application.updated").exists()

    only_hook = api.patch("/api/v1/application", {"webhook_url": ""})
    assert only_hook.json()["allowed_origins"] == ["https://app.example.com", "http://localhost:3000"]
    assert only_hook.json()["webhook_url"] == ""


def test_patch_with_token_bearing_urls_leaves_no_token_in_the_audit_trail(api, application):
    first = api.patch("/api/v1/application", {"webhook_url": "https://hooks.example.com/T0/B0/path-secret-1"})
    second = api.patch("/api/v1/application", {"webhook_url": "https://hooks.example.com/in?token=query-secret-2"})
    assert (first.status_code, second.status_code) == (200, 200)
    stored = audit_table_text()
    for secret in ("path-secret-1", "query-secret-2", "/T0/", "token="):
        assert secret not in stored
    updates = AuditEvent.objects.filter(action="application.updated").order_by("created_at", "id")
    assert [event.data for event in updates] == [
        {
            "fields": ["webhook_url"],
            "changes": {"webhook_url": ["", "https://hooks.example.com/…"]},
            "url_parts_changed": {"webhook_url": ["path"]},
        },
        {
            "fields": ["webhook_url"],
            "changes": {"webhook_url": ["https://hooks.example.com/…", "https://hooks.example.com/…?…"]},
            "url_parts_changed": {"webhook_url": ["path", "query"]},
        },
    ]


@pytest.mark.parametrize(
    "payload",
    [
        {"allowed_origins": ["https://app.example.com/path"]},
        {"allowed_origins": ["*"]},
        {"allowed_origins": ["ftp://files.example.com"]},
        {"webhook_url": "not a url"},
        {"allowed_origins": "https://app.example.com"},
    ],
)
def test_bad_values_are_422_and_change_nothing(api, application, payload):
    before = list(application.allowed_origins)
    response = api.patch("/api/v1/application", payload)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    application.refresh_from_db()
    assert application.allowed_origins == before


def test_the_unlisted_origin_422_names_the_endpoint_that_fixes_it(api, application):
    response = api.post("/api/v1/connect-sessions", {"customer_id": "c1", "allowed_origin": "https://new.example.com"})
    assert response.status_code == 422
    assert "PATCH /api/v1/application" in str(response.json()["error"])

    api.patch("/api/v1/application", {"allowed_origins": [*application.allowed_origins, "https://new.example.com"]})
    again = api.post("/api/v1/connect-sessions", {"customer_id": "c1", "allowed_origin": "https://new.example.com"})
    assert again.status_code == 201


def test_application_endpoint_needs_an_api_key():
    from django.test import Client

    assert Client().get("/api/v1/application").status_code == 401
    assert Client().patch("/api/v1/application", "{}", content_type="application/json").status_code == 401
