"""Tenancy: API keys are stored as hashes, origins are exact, and one application never sees another's rows."""

import hashlib

import pytest

from apps.audit.models import AuditEvent
from apps.catalog.models import ConnectorConfig
from apps.catalog.selectors import connector_config_get, connector_config_get_by_id, connector_config_list
from apps.connections.models import Connection
from apps.core.errors import Conflict, ValidationFailed
from apps.tenants.models import ApiKey, Application, Customer
from apps.tenants.selectors import api_key_authenticate, customer_get, customer_list
from apps.tenants.services import (
    API_KEY_PREFIX,
    api_key_create,
    api_key_rename,
    api_key_revoke,
    application_create,
    application_update,
    customer_create,
    customer_get_or_create,
    customer_update,
    normalize_origin,
)
from tests.audit.stored import audit_table_text
from tests.factories import ApplicationFactory, CustomerFactory, provider_for

pytestmark = pytest.mark.django_db


def test_api_key_is_stored_only_as_its_sha256():
    application = ApplicationFactory()
    api_key, raw = api_key_create(application=application, name="CI")
    assert raw.startswith(API_KEY_PREFIX)
    row = ApiKey.objects.filter(pk=api_key.pk).values().get()
    assert row["key_hash"] == hashlib.sha256(raw.encode()).hexdigest()
    assert all(raw not in str(value) for value in row.values())
    assert row["prefix"] == raw[:12] and raw.startswith(row["prefix"])
    assert raw not in str(api_key) and raw not in repr(api_key)
    assert api_key.prefix in str(api_key)


def test_each_key_is_unique():
    application = ApplicationFactory()
    raws = {api_key_create(application=application)[1] for _ in range(5)}
    assert len(raws) == 5


def test_api_key_authenticates_until_revoked():
    application = ApplicationFactory()
    api_key, raw = api_key_create(application=application)
    found = api_key_authenticate(raw_key=raw)
    assert found == api_key and found.application == application
    api_key_revoke(api_key=api_key, actor="staff:test")
    assert api_key_authenticate(raw_key=raw) is None
    assert AuditEvent.objects.filter(action="api_key.revoked", target_id=api_key.pk, actor="staff:test").exists()


@pytest.mark.parametrize("presented", ["", "pb_live_nope", "x" * 200])
def test_unknown_keys_are_rejected(presented):
    api_key_create(application=ApplicationFactory())
    assert api_key_authenticate(raw_key=presented) is None


def test_a_key_prefix_or_hash_is_not_a_key():
    api_key, raw = api_key_create(application=ApplicationFactory())
    assert api_key_authenticate(raw_key=api_key.prefix) is None
    assert api_key_authenticate(raw_key=api_key.key_hash) is None
    assert api_key_authenticate(raw_key=raw + " ") is None


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://app.example.com", "https://app.example.com"),
        ("HTTPS://App.Example.COM/", "https://app.example.com"),
        ("  http://localhost:8000  ", "http://localhost:8000"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
    ],
)
def test_origins_are_normalised(given, expected):
    assert normalize_origin(given) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "app.example.com",
        "ftp://app.example.com",
        "javascript:alert(1)",
        "https://*.example.com",
        "https://app.example.com/path",
        "https://app.example.com/?q=1",
        "https://app.example.com/#x",
        "https://user:pw@app.example.com",
    ],
)
def test_non_origins_are_refused(bad):
    with pytest.raises(ValidationFailed):
        normalize_origin(bad)


def test_application_create_normalises_origins_and_makes_a_webhook_secret():
    application = application_create(name="Hooli", allowed_origins=["HTTPS://Hooli.test/"])
    assert application.slug == "hooli"
    assert application.allowed_origins == ["https://hooli.test"]
    assert application.is_origin_allowed("https://hooli.test")
    assert not application.is_origin_allowed("https://hooli.test.evil.example")
    assert not application.is_origin_allowed("")
    assert AuditEvent.objects.filter(action="application.created", target_id=application.pk).exists()


def test_application_create_stores_the_webhook_secret_as_a_dict():
    application = application_create(name="Hooli", allowed_origins=[])
    fresh = Application.objects.get(pk=application.pk)
    assert isinstance(fresh.webhook_secret, dict)
    assert fresh.webhook_secret["secret"].startswith("whsec_")


def test_application_create_refuses_bad_origins():
    with pytest.raises(ValidationFailed):
        application_create(name="Bad", allowed_origins=["https://bad.test/path"])
    assert not Application.objects.filter(name="Bad").exists()


def test_customer_external_id_is_unique_per_application_only():
    first, second = ApplicationFactory(), ApplicationFactory()
    customer_create(application=first, external_id="c-1")
    customer_create(application=second, external_id="c-1")
    with pytest.raises(Conflict):
        customer_create(application=first, external_id="c-1")
    again = customer_get_or_create(application=first, external_id="c-1")
    assert again.application == first


def test_application_update_records_old_and_new_values_of_changed_fields_only():
    application = ApplicationFactory(name="Hooli", allowed_origins=["https://hooli.test"], webhook_url="")
    updated = application_update(
        application=application,
        name="Hooli",
        allowed_origins=["HTTPS://Hooli.test/"],
        webhook_url="https://hooks.hooli.test/",
        actor="staff:gavin",
    )
    assert updated.webhook_url == "https://hooks.hooli.test/"
    event = AuditEvent.objects.get(action="application.updated", target_id=application.pk)
    assert (event.actor, event.data) == (
        "staff:gavin",
        {"fields": ["webhook_url"], "changes": {"webhook_url": ["", "https://hooks.hooli.test/"]}},
    )
    application_update(application=application, webhook_url="https://hooks.hooli.test/")
    assert AuditEvent.objects.filter(action="application.updated").count() == 1


def test_application_update_keeps_the_secrets_urls_carry_out_of_the_audit_trail():
    application = ApplicationFactory(webhook_url="https://hooks.slack.test/services/T0/B0/old-hook-secret")
    application_update(
        application=application,
        webhook_url="https://hooks.slack.test/services/T0/B0/new-hook-secret",
        logo_url="https://cdn.test/logo.png?signature=logo-secret",
        actor="staff:gavin",
    )
    stored = audit_table_text()
    for secret in ("old-hook-secret", "new-hook-secret", "logo-secret", "/services/"):
        assert secret not in stored
    event = AuditEvent.objects.get(action="application.updated", target_id=application.pk)
    assert event.data == {
        "fields": ["logo_url", "webhook_url"],
        "changes": {
            "webhook_url": ["https://hooks.slack.test/…", "https://hooks.slack.test/…"],
            "logo_url": ["", "https://cdn.test/…?…"],
        },
        "url_parts_changed": {"webhook_url": ["path"], "logo_url": ["path", "query"]},
    }


def test_application_update_refusal_leaves_the_row_and_the_callers_object_as_they_were():
    application = ApplicationFactory(name="Hooli", logo_url="")
    with pytest.raises(ValidationFailed):
        application_update(application=application, name="Renamed", logo_url="not a url")
    assert (application.name, Application.objects.get(pk=application.pk).name) == ("Hooli", "Hooli")
    assert not AuditEvent.objects.filter(action="application.updated").exists()


def test_api_key_rename_changes_the_name_only():
    api_key, raw = api_key_create(application=ApplicationFactory(), name="CI")
    renamed = api_key_rename(api_key=api_key, name="Deploys", actor="staff:root")
    assert (renamed.name, renamed.key_hash) == ("Deploys", api_key.key_hash)
    assert api_key_authenticate(raw_key=raw) == api_key
    event = AuditEvent.objects.get(action="api_key.renamed")
    assert event.data == {"fields": ["name"], "changes": {"name": ["CI", "Deploys"]}}
    with pytest.raises(ValidationFailed):
        api_key_rename(api_key=api_key, name="")


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_api_key_create_refuses_a_name_it_could_not_show_and_writes_nothing(name):
    application = ApplicationFactory()
    with pytest.raises(ValidationFailed) as refused:
        api_key_create(application=application, name=name)
    assert "name" in refused.value.details["fields"]
    assert not ApiKey.objects.filter(application=application).exists()
    assert not AuditEvent.objects.filter(action="api_key.created").exists()


def test_api_key_create_strips_the_name():
    api_key, _ = api_key_create(application=ApplicationFactory(), name="  CI  ")
    assert ApiKey.objects.get(pk=api_key.pk).name == "CI"


def test_customer_create_and_update_are_audited_and_keep_external_ids_unique():
    application = ApplicationFactory()
    customer_create(application=application, external_id="c-1", actor="api_key:key_1")
    second = customer_create(application=application, external_id="c-2", name="Two")
    assert AuditEvent.objects.get(action="customer.created", target_id=second.pk).data == {"external_id": "c-2"}
    with pytest.raises(Conflict) as refused:
        customer_update(customer=second, external_id="c-1", name="Renamed")
    assert refused.value.details == {"fields": {"external_id": ["A customer with external_id 'c-1' already exists."]}}
    assert Customer.objects.get(pk=second.pk).external_id == "c-2"
    customer_update(customer=second, name="Deux", metadata={"tier": "gold"}, actor="staff:root")
    event = AuditEvent.objects.get(action="customer.updated")
    assert (event.actor, event.data["changes"]) == (
        "staff:root",
        {"name": ["Two", "Deux"], "metadata": [{}, {"tier": "gold"}]},
    )


class TestCrossApplicationSelectors:
    """Every read is scoped: another application's ids and external ids resolve to nothing."""

    @pytest.fixture
    def two_tenants(self):
        mine, theirs = ApplicationFactory(), ApplicationFactory()
        their_customer = CustomerFactory(application=theirs, external_id="shared-external-id")
        provider = provider_for("patchbay-sandbox")
        their_config = ConnectorConfig.objects.create(application=theirs, provider=provider, client_id="theirs")
        their_connection = Connection.objects.create(application=theirs, customer=their_customer, provider=provider)
        return mine, theirs, their_customer, their_config, their_connection

    def test_customers(self, two_tenants):
        mine, theirs, their_customer, *_ = two_tenants
        assert customer_get(application=mine, external_id="shared-external-id") is None
        assert list(customer_list(application=mine)) == []
        assert customer_get(application=theirs, external_id="shared-external-id") == their_customer

    def test_connector_configs(self, two_tenants):
        mine, theirs, _, their_config, _ = two_tenants
        assert connector_config_get(application=mine, provider=their_config.provider) is None
        assert connector_config_get_by_id(application=mine, config_id=their_config.pk) is None
        assert list(connector_config_list(application=mine)) == []
        assert connector_config_get_by_id(application=theirs, config_id=their_config.pk) == their_config

    def test_connections(self, two_tenants):
        selectors = pytest.importorskip("apps.connections.selectors")
        mine, theirs, _, _, their_connection = two_tenants
        assert selectors.connection_get(application=mine, connection_id=their_connection.pk) is None
        assert list(selectors.connection_list(application=mine)) == []
        assert selectors.connection_get(application=theirs, connection_id=their_connection.pk) == their_connection
