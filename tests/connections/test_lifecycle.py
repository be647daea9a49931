"""The connection lifecycle is defined once: the model, the native API and the Stuut compat list agree."""

import pytest

from apps.connections.lifecycle import lifecycle_of
from apps.tenants.services import api_key_create
from tests.api.conftest import ApiClient
from tests.factories import ApplicationFactory, ConnectionFactory, provider_for

BC_REQUIRED = ["environment", "company"]


@pytest.mark.parametrize(
    ("pending", "settings", "status", "expected"),
    [
        (True, {}, "unknown", (["environment", "company"], False, True, False)),
        (False, {"environment": "Production"}, "healthy", (["company"], False, True, False)),
        (False, {"environment": "", "company": None}, "healthy", (["environment", "company"], False, True, False)),
        (False, {"environment": "Production", "company": "c"}, "error", ([], True, False, False)),
        (False, {"environment": "Production", "company": "c"}, "healthy", ([], True, False, True)),
        (True, {"environment": "Production", "company": "c"}, "healthy", ([], False, True, False)),
    ],
)
def test_lifecycle_definition(pending, settings, status, expected):
    lifecycle = lifecycle_of(
        required_settings=BC_REQUIRED, settings=settings, is_authentication_pending=pending, status=status
    )
    assert (lifecycle.missing_settings, lifecycle.is_configured, lifecycle.requires_setup, lifecycle.is_healthy) == (
        expected
    )


@pytest.mark.django_db
def test_model_native_api_and_stuut_read_the_same_lifecycle():
    application = ApplicationFactory()
    bc = provider_for("ms-dynamics-bc")
    cases = [
        ConnectionFactory(application=application, provider=bc, is_authentication_pending=True),
        ConnectionFactory(
            application=application, provider=bc, is_authentication_pending=False, settings={"environment": "P"}
        ),
        ConnectionFactory(
            application=application,
            provider=bc,
            is_authentication_pending=False,
            status="healthy",
            settings={"environment": "P", "company": "c"},
        ),
        ConnectionFactory(
            application=application,
            provider=bc,
            is_authentication_pending=False,
            status="error",
            settings={"environment": "P", "company": "c"},
        ),
    ]
    _, raw_key = api_key_create(application=application, name="tests")
    api = ApiClient(raw_key)
    native_list = {c["id"]: c for c in api.get("/api/v1/connections", limit=100).json()["items"]}
    stuut_list = {c["id"]: c for c in api.get("/api/compat/stuut/v2/integrations/connections").json()}
    for connection in cases:
        lifecycle = connection.lifecycle
        expected = {
            "missing_settings": lifecycle.missing_settings,
            "is_configured": lifecycle.is_configured,
            "requires_setup": lifecycle.requires_setup,
            "is_healthy": lifecycle.is_healthy,
        }
        assert (connection.missing_settings, connection.is_configured, connection.requires_setup) == (
            lifecycle.missing_settings,
            lifecycle.is_configured,
            lifecycle.requires_setup,
        )
        single = api.get(f"/api/v1/connections/{connection.pk}", refresh_policy="none").json()
        for body in (native_list[connection.pk], single, stuut_list[connection.pk]):
            assert {key: body[key] for key in expected} == expected
            assert body["health"]["healthy"] is lifecycle.is_healthy
    assert [c.lifecycle.is_healthy for c in cases] == [False, False, True, False]
