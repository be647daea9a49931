"""Customer tokens: minted by the application's backend, handed to its frontend, scoped to one customer."""

import logging
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.api.api import api as ninja_api
from apps.api.models import CustomerToken
from apps.audit.models import AuditEvent
from apps.tenants.services import api_key_create, hash_secret
from tests.api.conftest import ApiClient
from tests.factories import ApplicationFactory, ConnectionFactory, CustomerFactory, provider_for

CUSTOMER_SCOPED_OPERATIONS = {
    ("get", "/api/v1/connections"),
    ("get", "/api/v1/connections/{connection_id}"),
    ("post", "/api/v1/connect-sessions"),
    ("get", "/api/compat/stuut/v2/integrations/connections"),
    ("get", "/api/compat/openint/connection"),
    ("get", "/api/compat/openint/connection/{connection_id}"),
    ("get", "/api/compat/supaglue/customers/{customer_id}/connections"),
}


@pytest.fixture
def world(application, api):
    alice = CustomerFactory(application=application, external_id="alice")
    bob = CustomerFactory(application=application, external_id="bob")
    salesforce = provider_for("salesforce")
    alices = [ConnectionFactory(application=application, customer=alice, provider=salesforce) for _ in range(2)]
    bobs = [ConnectionFactory(application=application, customer=bob, provider=salesforce)]
    other_app = ApplicationFactory()
    stranger = CustomerFactory(application=other_app, external_id="alice")
    strangers = [ConnectionFactory(application=other_app, customer=stranger, provider=salesforce)]
    response = api.post("/api/v1/customers/alice/tokens", {"ttl_seconds": 600})
    assert response.status_code == 201, response.content
    return {
        "alice": alices,
        "bob": bobs,
        "strangers": strangers,
        "other_app": other_app,
        "minted": response.json(),
        "client": ApiClient(response.json()["token"]),
    }


def _ids(items) -> set[str]:
    return {item["id"] for item in items}


def test_minting_returns_the_token_once_and_stores_only_its_hash(world, application):
    minted = world["minted"]
    assert minted["token"].startswith("pb_ct_") and minted["customer_id"] == "alice"
    stored = CustomerToken.objects.get(pk=minted["id"])
    assert minted["token"] not in str(stored.__dict__)
    assert timedelta(seconds=590) < stored.expires_at - timezone.now() <= timedelta(seconds=600)
    assert AuditEvent.objects.filter(action="customer_token.created", target_id=stored.pk).exists()
    assert minted["token"] not in str(list(AuditEvent.objects.values_list("data", flat=True)))


def test_minting_checks_the_customer_and_the_lifetime(api, world):
    assert api.post("/api/v1/customers/nobody/tokens", {}).status_code == 404
    assert api.post("/api/v1/customers/alice/tokens", {"ttl_seconds": 86401}).status_code == 422
    assert api.post("/api/v1/customers/alice/tokens", {"ttl_seconds": 59}).status_code == 422


def test_a_token_reads_only_its_customers_connections_on_every_surface(world):
    client, alice = world["client"], {c.pk for c in world["alice"]}
    assert _ids(client.get("/api/v1/connections").json()["items"]) == alice
    assert _ids(client.get("/api/compat/stuut/v2/integrations/connections").json()) == alice
    assert _ids(client.get("/api/compat/openint/connection").json()["items"]) == alice
    assert _ids(client.get("/api/compat/supaglue/customers/alice/connections").json()) == alice
    own = world["alice"][0].pk
    assert client.get(f"/api/v1/connections/{own}").status_code == 200
    assert client.get(f"/api/compat/openint/connection/{own}").status_code == 200


def test_another_customers_or_tenants_connections_look_unknown(world):
    client = world["client"]
    for connection in world["bob"] + world["strangers"]:
        assert client.get(f"/api/v1/connections/{connection.pk}").status_code == 404
        assert client.get(f"/api/compat/openint/connection/{connection.pk}").status_code == 404


def test_naming_another_customer_is_forbidden(world):
    client = world["client"]
    assert client.get("/api/compat/supaglue/customers/bob/connections").status_code == 403
    assert client.get("/api/v1/connections", customer_id="bob").status_code == 403
    assert client.get("/api/compat/openint/connection", customer_id="bob").status_code == 403
    assert client.post("/api/v1/connect-sessions", {"customer_id": "bob"}).status_code == 403


def test_a_token_creates_connect_sessions_for_its_customer_only(world):
    response = world["client"].post("/api/v1/connect-sessions", {"customer_id": "alice"})
    assert response.status_code == 201, response.content
    assert response.json()["customer_id"] == "alice"


def test_a_token_never_reads_credentials(world):
    client, own = world["client"], world["alice"][0].pk
    assert client.get(f"/api/v1/connections/{own}", include_secrets="true").status_code == 403
    assert client.get("/api/v1/connections", include_secrets="true").status_code == 403
    assert client.get("/api/compat/openint/connection", include_secrets="true").status_code == 403


def test_every_other_operation_answers_403_to_a_token(world):
    client = world["client"]
    operations = [
        (method, path)
        for path, methods in ninja_api.get_openapi_schema()["paths"].items()
        for method in methods
        if (method, path) not in CUSTOMER_SCOPED_OPERATIONS
    ]
    assert len(operations) >= 10
    for method, path in operations:
        url = re.sub(r"{[^}]+}", "x", path)
        response = (
            client.get(url) if method == "get" else getattr(client, method)(url, *([{}] if method != "delete" else []))
        )
        assert response.status_code == 403, (method, path, response.status_code)
        assert response.json()["error"]["code"] == "forbidden"


def test_revoked_and_expired_tokens_are_refused(api, world):
    client = world["client"]
    assert api.delete(f"/api/v1/customer-tokens/{world['minted']['id']}").status_code == 204
    assert client.get("/api/v1/connections").status_code == 401
    expired = api.post("/api/v1/customers/alice/tokens", {"ttl_seconds": 60}).json()
    CustomerToken.objects.filter(pk=expired["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert ApiClient(expired["token"]).get("/api/v1/connections").status_code == 401


def test_an_application_cannot_revoke_another_applications_token(world):
    _, raw = api_key_create(application=world["other_app"])
    assert ApiClient(raw).delete(f"/api/v1/customer-tokens/{world['minted']['id']}").status_code == 404
    assert world["client"].get("/api/v1/connections").status_code == 200


def test_supaglue_accepts_the_api_key_in_x_api_key(api_key, world):
    raw = api_key[1]
    response = ApiClient(None).client.get(
        "/api/compat/supaglue/customers/alice/connections", headers={"x-api-key": raw}
    )
    assert response.status_code == 200 and _ids(response.json()) == {c.pk for c in world["alice"]}
    wrong = ApiClient(None).client.get(
        "/api/compat/supaglue/customers/alice/connections", headers={"x-api-key": "nope"}
    )
    assert wrong.status_code == 401


def test_x_api_key_is_refused_everywhere_else(api_key, world):
    for url in [
        "/api/v1/connections",
        "/api/compat/stuut/v2/integrations/connections",
        "/api/compat/openint/connection",
    ]:
        assert ApiClient(None).client.get(url, headers={"x-api-key": api_key[1]}).status_code == 401


def test_keys_and_tokens_are_never_logged(api_key, world, caplog):
    caplog.set_level(logging.DEBUG)
    raw_key, token = api_key[1], world["minted"]["token"]
    forged = raw_key[:-4] + "zzzz"
    anonymous = ApiClient(None).client
    anonymous.get("/api/compat/supaglue/customers/alice/connections", headers={"x-api-key": raw_key})
    anonymous.get("/api/compat/supaglue/customers/alice/connections", headers={"x-api-key": forged})
    anonymous.get("/api/v1/connections", headers={"x-api-key": raw_key})
    ApiClient(forged).get("/api/v1/connections")
    world["client"].get("/api/v1/customers")
    world["client"].get("/api/compat/supaglue/customers/bob/connections")
    logged = caplog.text + str([r.__dict__ for r in caplog.records])
    for secret in (raw_key, forged, token):
        assert secret not in logged and hash_secret(secret) not in logged and secret[-12:] not in logged
