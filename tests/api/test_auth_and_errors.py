"""Authentication, rate limiting and the one error shape every failure uses."""

import base64
import io
import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.tenants.models import ApiKey
from apps.tenants.services import api_key_revoke
from config.logging import ScrubbingFormatter
from tests.api.conftest import ApiClient
from tests.factories import ConnectorConfigFactory, provider_for

pytestmark = pytest.mark.django_db


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details", "title", "resolution"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["resolution"], str) and body["error"]["resolution"]
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/connections",
        "/api/v1/customers",
        "/api/compat/stuut/v2/integrations/connections",
        "/api/compat/openint/connection",
        "/api/compat/supaglue/customers/x/connections",
    ],
)
def test_missing_api_key_is_401_json(path, application):
    assert_error(ApiClient(None).get(path), 401, "unauthorized")


def test_unknown_api_key_is_401(application):
    assert_error(ApiClient("pb_live_not-a-real-key").get("/api/v1/connections"), 401, "unauthorized")


def test_wrong_scheme_is_401(api_key):
    client = ApiClient(None)
    client.headers = {"Authorization": f"Basic {api_key[1]}"}
    assert_error(client.get("/api/v1/connections"), 401)


@pytest.mark.parametrize("scheme", ["Basic", "Token", "ApiKey", "bearer:"])
def test_a_key_sent_with_another_scheme_never_reaches_the_log(api_key, scheme):
    """Scrubbed at the logging layer: what the handler LOGGING configures writes, not a test handler."""
    (handler,) = [h for h in logging.getLogger().handlers if isinstance(h.formatter, ScrubbingFormatter)]
    captured = io.StringIO()
    previous = handler.setStream(captured)
    try:
        client = ApiClient(None)
        client.headers = {"Authorization": f"{scheme} {api_key[1]}"}
        assert_error(client.get("/api/v1/connections"), 401)
        logging.getLogger("apps.api").error("echo %s %s", f"Authorization: {scheme} {api_key[1]}", api_key[1])
    finally:
        handler.setStream(previous)
    written = captured.getvalue()
    assert "echo" in written and "[redacted]" in written
    assert api_key[1] not in written and api_key[1][len("pb_live_") :] not in written


def test_a_body_over_the_upload_limit_is_413_json(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.post("/api/v1/customers", {"external_id": "big", "name": "x" * 5000})
    error = assert_error(response, 413, "payload_too_large")
    assert "1000" in error["message"]


def test_revoked_api_key_is_401(api, api_key):
    assert api.get("/api/v1/connections").status_code == 200
    api_key_revoke(api_key=api_key[0])
    assert_error(api.get("/api/v1/connections"), 401, "unauthorized")


def test_last_used_at_is_recorded_at_most_once_a_minute(api, api_key, monkeypatch):
    api.get("/api/v1/connections")
    first = ApiKey.objects.get(pk=api_key[0].pk).last_used_at
    assert first is not None
    api.get("/api/v1/connections")
    assert ApiKey.objects.get(pk=api_key[0].pk).last_used_at == first
    later = timezone.now() + timedelta(minutes=2)
    monkeypatch.setattr("apps.api.auth.timezone.now", lambda: later)
    api.get("/api/v1/connections")
    assert ApiKey.objects.get(pk=api_key[0].pk).last_used_at == later


def test_rate_limit_is_429_with_retry_after(api, settings, fresh_rate_window):
    settings.PATCHBAY_API_RATE_LIMIT_PER_MINUTE = 3
    for _ in range(3):
        assert api.get("/api/v1/providers").status_code == 200
    response = api.get("/api/v1/providers")
    error = assert_error(response, 429, "rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 61
    assert error["details"]["retry_after"] == int(response["Retry-After"])


def test_rate_limit_is_per_key(api, application, settings, fresh_rate_window):
    from apps.tenants.services import api_key_create

    settings.PATCHBAY_API_RATE_LIMIT_PER_MINUTE = 1
    assert api.get("/api/v1/providers").status_code == 200
    assert api.get("/api/v1/providers").status_code == 429
    _, other_raw = api_key_create(application=application, name="second")
    assert ApiClient(other_raw).get("/api/v1/providers").status_code == 200


def test_unknown_connection_is_404_json(api):
    assert_error(api.get("/api/v1/connections/conn_doesnotexist"), 404, "not_found")


def test_bad_cursor_is_400_json(api):
    assert_error(api.get("/api/v1/connections", cursor="%%%not-a-cursor"), 400, "invalid_cursor")


def test_cursor_without_a_timezone_is_400_json(api):
    naive = base64.urlsafe_b64encode(b"2026-01-01T00:00:00|cus_x").decode().rstrip("=")
    assert_error(api.get("/api/v1/connections", cursor=naive), 400, "invalid_cursor")


def test_unreadable_json_body_is_400_json(api):
    response = api.client.post(
        "/api/v1/customers", data="{not json", content_type="application/json", headers=api.headers
    )
    error = assert_error(response, 400, "bad_request")
    assert "could not be read" in error["message"]


def test_invalid_webhook_url_is_422_with_the_field_named(api):
    error = assert_error(api.patch("/api/v1/application", {"webhook_url": "not a url"}), 422, "validation_error")
    assert "webhook_url" in error["details"]["fields"]


def test_duplicate_customer_is_409_json(api):
    assert api.post("/api/v1/customers", {"external_id": "dup"}).status_code == 201
    assert_error(api.post("/api/v1/customers", {"external_id": "dup"}), 409, "conflict")


def test_invalid_query_parameter_is_422_json(api):
    error = assert_error(api.get("/api/v1/connections", limit=1000), 422, "validation_error")
    assert error["details"]["errors"][0]["loc"][-1] == "limit"


def test_invalid_body_is_422_json(api):
    error = assert_error(api.post("/api/v1/customers", {"name": "no external id"}), 422, "validation_error")
    assert any(e["loc"][-1] == "external_id" for e in error["details"]["errors"])


def test_invalid_settings_are_422_with_details(api, customer):
    ConnectorConfigFactory(application=customer.application, provider=provider_for("ms-dynamics-bc"))
    response = api.post(
        "/api/v1/connections",
        {"customer_id": customer.external_id, "provider": "ms-dynamics-bc", "settings": {"environment": "no spaces!"}},
    )
    error = assert_error(response, 422, "settings_invalid")
    assert "environment" in error["details"]["settings"]


def test_unexpected_exception_is_generic_500_without_traceback(api, monkeypatch):
    import apps.api.v1.routes as routes

    def boom(**kwargs):
        raise RuntimeError("secret internals at /work/main/apps")

    monkeypatch.setattr(routes, "provider_list", boom)
    response = api.get("/api/v1/providers")
    error = assert_error(response, 500, "internal_error")
    assert "secret internals" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert error["details"] == {}


def test_unknown_api_path_is_json_404(api):
    assert_error(api.get("/api/v1/nothing-here"), 404, "not_found")


def test_openapi_and_docs_are_served(client):
    schema = client.get("/api/openapi.json").json()
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"]["scheme"] == "bearer"
    assert "/api/compat/stuut/v2/integrations/connections" in schema["paths"]
    assert "/api/compat/openint/connection/{connection_id}" in schema["paths"]
    assert "/api/compat/supaglue/customers/{customer_id}/connections" in schema["paths"]
    assert client.get("/api/docs").status_code == 200


def test_nul_character_in_input_is_never_a_500(api):
    """PostgreSQL cannot store NUL in text (422); SQLite can, so there the request simply succeeds."""
    if _sqlite():
        assert api.post("/api/v1/customers", {"external_id": "nul\x00id"}).status_code == 201
        return
    assert_error(api.get("/api/v1/customers/a%00b"), 422)
    assert_error(api.post("/api/v1/customers", {"external_id": "nul\x00id"}), 422)


def _sqlite() -> bool:
    from django.db import connection

    return connection.vendor == "sqlite"
