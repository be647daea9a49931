"""Adds and edits in the staff console go through the owning app's services: one audit row naming the staff
member and each changed field's old and new value (never a secret); a refused save writes nothing."""

import json
import re

import pytest
from django.db import connection as db_connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.connections.models import Connection, ConnectionModel
from apps.tenants.models import ApiKey, Application, Customer
from apps.tenants.selectors import api_key_authenticate
from apps.tenants.services import api_key_create
from tests.audit.stored import audit_table_text
from tests.console.conftest import WEBHOOK_SECRET
from tests.factories import ApplicationFactory, CustomerFactory, provider_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]

NO_API_KEY_ROWS = {"api_keys-TOTAL_FORMS": "0", "api_keys-INITIAL_FORMS": "0"}


@pytest.fixture
def application(db):
    return ApplicationFactory(
        name="Acme Corp",
        slug="acme",
        allowed_origins=["https://app.acme.test"],
        webhook_secret={"secret": WEBHOOK_SECRET},
    )


def audit_rows_written(call) -> tuple[object, list[AuditEvent]]:
    before = set(AuditEvent.objects.values_list("pk", flat=True))
    result = call()
    return result, list(AuditEvent.objects.exclude(pk__in=before))


def application_form(application: Application, **changes) -> dict:
    return {
        "name": application.name,
        "slug": application.slug,
        "allowed_origins": "\n".join(application.allowed_origins),
        "webhook_url": application.webhook_url,
        "brand_color": application.brand_color,
        "logo_url": application.logo_url,
        **NO_API_KEY_ROWS,
        **changes,
    }


def assert_no_secret(event: AuditEvent, *secrets: str) -> None:
    text = json.dumps(event.data)
    for secret in secrets:
        assert secret not in text


def api_request(raw_key: str, path: str) -> tuple[int, dict, int]:
    """Status, body and how many API-key reads one API request made (0: the process remembered the key)."""
    with CaptureQueriesContext(db_connection) as ctx:
        response = Client().get(path, headers={"Authorization": f"Bearer {raw_key}"})
    key_reads = sum('"tenants_apikey"' in q["sql"] and "SELECT" in q["sql"] for q in ctx)
    return response.status_code, response.json(), key_reads


# --- applications ---------------------------------------------------------------------------------------


def test_application_edit_goes_through_the_service_with_one_audit_row(superuser_client, application):
    url = reverse("admin:tenants_application_change", args=[application.pk])
    form = application_form(
        application, name="Acme Inc", allowed_origins="HTTPS://New.Acme.test/", brand_color="#112233"
    )
    response, rows = audit_rows_written(lambda: superuser_client.post(url, form))
    assert response.status_code == 302, response.content.decode()[:3000]
    application.refresh_from_db()
    assert (application.name, application.allowed_origins, application.brand_color) == (
        "Acme Inc", ["https://new.acme.test"], "#112233"
    )  # fmt: skip
    [event] = rows
    assert (event.action, event.actor, event.target_id, event.application_id) == (
        "application.updated", "staff:root", application.pk, application.pk
    )  # fmt: skip
    assert event.data == {
        "fields": ["allowed_origins", "brand_color", "name"],
        "changes": {
            "name": ["Acme Corp", "Acme Inc"],
            "allowed_origins": [["https://app.acme.test"], ["https://new.acme.test"]],
            "brand_color": ["#4f46e5", "#112233"],
        },
    }
    assert_no_secret(event, WEBHOOK_SECRET, "pbv1:", "webhook_secret")
    assert application.webhook_secret["secret"] == WEBHOOK_SECRET


def test_application_edit_with_token_bearing_urls_leaves_no_token_in_the_audit_trail(superuser_client, application):
    url = reverse("admin:tenants_application_change", args=[application.pk])
    form = application_form(
        application,
        webhook_url="https://hook-user:userinfo-secret@hooks.acme.test/T0/B0/path-secret?token=query-secret",
        logo_url="https://cdn.acme.test/logo.png?signature=logo-secret",
    )
    response, rows = audit_rows_written(lambda: superuser_client.post(url, form))
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Application.objects.get(pk=application.pk).webhook_url == form["webhook_url"]
    stored = audit_table_text()
    for secret in ("userinfo-secret", "hook-user", "path-secret", "query-secret", "logo-secret", "/T0/"):
        assert secret not in stored
    [event] = rows
    assert event.data == {
        "fields": ["logo_url", "webhook_url"],
        "changes": {
            "webhook_url": ["", "https://…@hooks.acme.test/…?…"],
            "logo_url": ["", "https://cdn.acme.test/…?…"],
        },
        "url_parts_changed": {"webhook_url": ["userinfo", "path", "query"], "logo_url": ["path", "query"]},
    }


def test_application_edit_without_changes_writes_nothing(superuser_client, application):
    url = reverse("admin:tenants_application_change", args=[application.pk])
    response, rows = audit_rows_written(lambda: superuser_client.post(url, application_form(application)))
    assert response.status_code == 302
    assert rows == []


def test_application_edit_to_a_taken_slug_is_refused_and_changes_nothing(superuser_client, application):
    ApplicationFactory(slug="globex")
    url = reverse("admin:tenants_application_change", args=[application.pk])
    form = application_form(application, name="Renamed", slug="globex")
    response, rows = audit_rows_written(lambda: superuser_client.post(url, form))
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    application.refresh_from_db()
    assert (application.name, application.slug, rows) == ("Acme Corp", "acme", [])


def test_application_add_is_audited_with_the_staff_member(superuser_client):
    form = {"name": "Globex", "slug": "globex", "allowed_origins": "", "webhook_url": "", "brand_color": "#112233",
            "logo_url": "https://globex.test/logo.png", **NO_API_KEY_ROWS}  # fmt: skip
    response, rows = audit_rows_written(lambda: superuser_client.post(reverse("admin:tenants_application_add"), form))
    assert response.status_code == 302, response.content.decode()[:3000]
    application = Application.objects.get(slug="globex")
    assert (application.brand_color, application.logo_url) == ("#112233", "https://globex.test/logo.png")
    [event] = rows
    assert (event.action, event.actor, event.target_id) == ("application.created", "staff:root", application.pk)


def test_an_application_edited_in_the_console_is_seen_by_a_process_that_remembers_its_key(
    superuser_client, application
):
    _, raw = api_key_create(application=application)
    assert api_request(raw, "/api/v1/application")[0] == 200
    status, body, key_reads = api_request(raw, "/api/v1/application")
    assert (status, body["webhook_url"], key_reads) == (200, "", 0)  # remembered

    url = reverse("admin:tenants_application_change", args=[application.pk])
    form = application_form(application, webhook_url="https://hooks.acme.test/patchbay")
    assert superuser_client.post(url, form).status_code == 302

    status, body, key_reads = api_request(raw, "/api/v1/application")
    assert (status, body["webhook_url"], key_reads) == (200, "https://hooks.acme.test/patchbay", 1)


# --- API keys -------------------------------------------------------------------------------------------


def test_api_key_rename_goes_through_the_service_and_the_key_keeps_working(superuser_client, application):
    api_key, raw = api_key_create(application=application, name="Old name")
    assert api_request(raw, "/api/v1/application")[0] == 200
    assert api_request(raw, "/api/v1/application")[2] == 0  # remembered

    url = reverse("admin:tenants_apikey_change", args=[api_key.pk])
    response, rows = audit_rows_written(lambda: superuser_client.post(url, {"name": "Production backend"}))
    assert response.status_code == 302, response.content.decode()[:3000]
    renamed = ApiKey.objects.get(pk=api_key.pk)
    assert (renamed.name, renamed.key_hash, renamed.prefix) == ("Production backend", api_key.key_hash, api_key.prefix)
    [event] = rows
    assert (event.action, event.actor, event.target_id, event.application_id) == (
        "api_key.renamed", "staff:root", api_key.pk, application.pk
    )  # fmt: skip
    assert event.data == {"fields": ["name"], "changes": {"name": ["Old name", "Production backend"]}}
    assert_no_secret(event, api_key.key_hash, raw)

    # The process noticed the change (it read the key again) and the renamed key still authenticates.
    status, _, key_reads = api_request(raw, "/api/v1/application")
    assert (status, key_reads) == (200, 1)


def test_api_key_rename_to_nothing_is_refused_and_changes_nothing(superuser_client, application):
    api_key, _ = api_key_create(application=application, name="Old name")
    url = reverse("admin:tenants_apikey_change", args=[api_key.pk])
    response, rows = audit_rows_written(lambda: superuser_client.post(url, {"name": "   "}))
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert (ApiKey.objects.get(pk=api_key.pk).name, rows) == ("Old name", [])


def test_api_key_add_goes_through_the_service_and_shows_the_key_once(superuser_client, application):
    add = reverse("admin:tenants_apikey_add")
    response, rows = audit_rows_written(
        lambda: superuser_client.post(add, {"application": application.pk, "name": " Deploys "}, follow=True)
    )
    assert response.status_code == 200
    page = response.content.decode()
    [raw] = re.findall(r"pb_live_[A-Za-z0-9_-]{40,}", page)
    api_key = ApiKey.objects.get(application=application)
    assert (api_key.name, api_key_authenticate(raw_key=raw)) == ("Deploys", api_key)
    assert f"Deploys ({api_key.prefix}…)" in page  # the admin's "was added" message names the key by its prefix
    [event] = rows
    assert (event.action, event.actor, event.target_id, event.application_id) == (
        "api_key.created", "staff:root", api_key.pk, application.pk
    )  # fmt: skip
    assert raw not in audit_table_text()
    assert raw not in superuser_client.get(reverse("admin:tenants_apikey_change", args=[api_key.pk])).content.decode()


@pytest.mark.parametrize(("name", "message"), [("   ", "This field is required."), ("x" * 101, "at most 100")])
def test_api_key_add_with_a_refused_name_shows_why_and_writes_nothing(superuser_client, application, name, message):
    add = reverse("admin:tenants_apikey_add")
    response, rows = audit_rows_written(
        lambda: superuser_client.post(add, {"application": application.pk, "name": name})
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert "pb_live_" not in response.content.decode()
    assert (list(ApiKey.objects.filter(application=application)), rows) == ([], [])


def test_support_cannot_add_an_api_key(support_client, application):
    add = reverse("admin:tenants_apikey_add")
    assert support_client.get(add).status_code == 403
    response, rows = audit_rows_written(lambda: support_client.post(add, {"application": application.pk, "name": "x"}))
    assert (response.status_code, rows) == (403, [])
    assert not ApiKey.objects.filter(application=application).exists()


# --- customers ------------------------------------------------------------------------------------------


def customer_form(customer: Customer, **changes) -> dict:
    return {
        "external_id": customer.external_id,
        "name": customer.name,
        "email": customer.email,
        "metadata": json.dumps(customer.metadata),
        **changes,
    }


def test_customer_add_uses_the_api_create_service(superuser_client, application):
    form = {"application": application.pk, "external_id": "acme-7", "name": "Acme Seven", "email": "",
            "metadata": '{"tier": "gold"}'}  # fmt: skip
    response, rows = audit_rows_written(lambda: superuser_client.post(reverse("admin:tenants_customer_add"), form))
    assert response.status_code == 302, response.content.decode()[:3000]
    customer = Customer.objects.get(application=application, external_id="acme-7")
    assert (customer.name, customer.metadata) == ("Acme Seven", {"tier": "gold"})
    [event] = rows
    assert (event.action, event.actor, event.target_id, event.application_id) == (
        "customer.created", "staff:root", customer.pk, application.pk
    )  # fmt: skip
    assert event.data == {"external_id": "acme-7"}


def test_customer_add_with_a_taken_external_id_is_refused(superuser_client, application):
    CustomerFactory(application=application, external_id="acme-7", name="First")
    form = {"application": application.pk, "external_id": "acme-7", "name": "Second", "email": "", "metadata": "{}"}
    response, rows = audit_rows_written(lambda: superuser_client.post(reverse("admin:tenants_customer_add"), form))
    assert response.status_code == 200
    assert "A customer with external_id &#x27;acme-7&#x27; already exists." in response.content.decode()
    assert list(Customer.objects.filter(external_id="acme-7").values_list("name", flat=True)) == ["First"]
    assert rows == []


def test_customer_edit_goes_through_the_service_with_one_audit_row(superuser_client, application):
    customer = CustomerFactory(application=application, external_id="acme-1", name="Acme", metadata={"a": 1})
    url = reverse("admin:tenants_customer_change", args=[customer.pk])
    form = customer_form(customer, name="Acme Ltd", email="ops@acme.test", metadata='{"a": 2}')
    response, rows = audit_rows_written(lambda: superuser_client.post(url, form))
    assert response.status_code == 302, response.content.decode()[:3000]
    customer.refresh_from_db()
    assert (customer.name, customer.email, customer.metadata) == ("Acme Ltd", "ops@acme.test", {"a": 2})
    [event] = rows
    assert (event.action, event.actor, event.target_id, event.application_id) == (
        "customer.updated", "staff:root", customer.pk, application.pk
    )  # fmt: skip
    assert event.data == {
        "fields": ["email", "metadata", "name"],
        "changes": {"name": ["Acme", "Acme Ltd"], "email": ["", "ops@acme.test"], "metadata": [{"a": 1}, {"a": 2}]},
    }


def test_customer_edit_cannot_move_it_to_another_application(superuser_client, application):
    customer = CustomerFactory(application=application)
    url = reverse("admin:tenants_customer_change", args=[customer.pk])
    other = ApplicationFactory()
    assert superuser_client.post(url, customer_form(customer, application=other.pk)).status_code == 302
    assert Customer.objects.get(pk=customer.pk).application_id == application.pk


def test_customer_edit_to_a_taken_external_id_is_refused_and_changes_nothing(superuser_client, application):
    CustomerFactory(application=application, external_id="taken")
    customer = CustomerFactory(application=application, external_id="mine", name="Mine")
    url = reverse("admin:tenants_customer_change", args=[customer.pk])
    response, rows = audit_rows_written(
        lambda: superuser_client.post(url, customer_form(customer, external_id="taken", name="Renamed"))
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    customer.refresh_from_db()
    assert (customer.external_id, customer.name, rows) == ("mine", "Mine", [])


def test_customer_edit_shows_a_taken_external_id_beside_other_refused_fields(superuser_client, application):
    CustomerFactory(application=application, external_id="taken")
    customer = CustomerFactory(application=application, external_id="mine", name="Mine")
    url = reverse("admin:tenants_customer_change", args=[customer.pk])
    form = customer_form(customer, external_id="taken", email="not-an-email", name="Renamed")
    response, rows = audit_rows_written(lambda: superuser_client.post(url, form))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors == {
        "external_id": ["A customer with external_id 'taken' already exists."],
        "email": ["Enter a valid email address."],
    }
    customer.refresh_from_db()
    assert (customer.external_id, customer.name, rows) == ("mine", "Mine", [])


def test_customer_add_shows_a_taken_external_id_once_beside_other_refused_fields(superuser_client, application):
    CustomerFactory(application=application, external_id="taken")
    form = {"application": application.pk, "external_id": "taken", "name": "", "email": "", "metadata": "{bad"}
    response, rows = audit_rows_written(lambda: superuser_client.post(reverse("admin:tenants_customer_add"), form))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "external_id": ["A customer with external_id 'taken' already exists."],
        "metadata": ["Enter a valid JSON."],
    }
    assert (Customer.objects.filter(external_id="taken").count(), rows) == (1, [])


def test_customer_edit_keeping_its_own_external_id_beside_a_refused_field_names_that_field_only(
    superuser_client, application
):
    customer = CustomerFactory(application=application, external_id="mine")
    url = reverse("admin:tenants_customer_change", args=[customer.pk])
    response = superuser_client.post(url, customer_form(customer, email="not-an-email"))
    assert response.context["adminform"].form.errors == {"email": ["Enter a valid email address."]}


# --- synced models --------------------------------------------------------------------------------------


@pytest.fixture
def synced(application):
    connection = Connection.objects.create(
        application=application,
        customer=CustomerFactory(application=application),
        provider=provider_for("patchbay-sandbox"),
        display_name="Sandbox",
    )
    contacts = ConnectionModel.objects.create(
        connection=connection, name="contacts", display_name="Contacts", is_write_supported=True
    )
    invoices = ConnectionModel.objects.create(
        connection=connection, name="invoices", display_name="Invoices", is_write_supported=False
    )
    return connection, contacts, invoices


def connection_page_form(connection: Connection, models: list[ConnectionModel], **changes) -> dict:
    form = {
        "display_name": connection.display_name,
        "settings": json.dumps(connection.settings),
        "metadata": json.dumps(connection.metadata),
        "models-TOTAL_FORMS": str(len(models)),
        "models-INITIAL_FORMS": str(len(models)),
        "sync_runs-TOTAL_FORMS": "0",
        "sync_runs-INITIAL_FORMS": "0",
    }
    for index, model in enumerate(models):
        form |= {f"models-{index}-id": model.pk, f"models-{index}-connection": connection.pk}
        for flag in ("is_read_enabled", "is_write_enabled"):
            if getattr(model, flag):
                form[f"models-{index}-{flag}"] = "on"
    return {**form, **changes}


def test_synced_model_flags_on_the_connection_page_go_through_the_service(superuser_client, synced):
    connection, contacts, invoices = synced
    url = reverse("admin:connections_connection_change", args=[connection.pk])
    form = connection_page_form(connection, [contacts, invoices], **{"models-0-is_write_enabled": "on"})
    response, rows = audit_rows_written(lambda: superuser_client.post(url, form))
    assert response.status_code == 302, response.content.decode()[:3000]
    contacts.refresh_from_db()
    assert (contacts.is_read_enabled, contacts.is_write_enabled) == (True, True)
    [event] = rows
    assert (event.action, event.actor, event.target_type, event.target_id, event.application_id) == (
        "connection.model_updated", "staff:root", "connection", connection.pk, connection.application_id
    )  # fmt: skip
    assert event.data == {
        "model": "contacts",
        "fields": ["is_write_enabled"],
        "changes": {"is_write_enabled": [False, True]},
    }
    assert "connection.model_updated" in superuser_client.get(url).content.decode()  # on its timeline


def test_an_unsupported_direction_is_refused_and_the_whole_page_changes_nothing(superuser_client, synced):
    connection, contacts, invoices = synced
    url = reverse("admin:connections_connection_change", args=[connection.pk])
    form = connection_page_form(
        connection,
        [contacts, invoices],
        display_name="Renamed in the same save",
        **{"models-0-is_read_enabled": "", "models-1-is_write_enabled": "on"},
    )
    response, rows = audit_rows_written(lambda: superuser_client.post(url, form))
    assert response.status_code == 200
    assert "Invoices: the provider does not support writing this model." in response.content.decode()
    connection.refresh_from_db()
    contacts.refresh_from_db()
    invoices.refresh_from_db()
    assert connection.display_name == "Sandbox"
    assert (contacts.is_read_enabled, invoices.is_write_enabled) == (True, False)
    assert rows == []


def test_synced_model_page_edits_flags_through_the_service_only(superuser_client, synced):
    _, contacts, _ = synced
    url = reverse("admin:connections_connectionmodel_change", args=[contacts.pk])
    form = {"is_read_enabled": "", "is_write_enabled": "on", "name": "hijacked", "is_write_supported": ""}
    response, rows = audit_rows_written(lambda: superuser_client.post(url, form))
    assert response.status_code == 302, response.content.decode()[:3000]
    contacts.refresh_from_db()
    assert (contacts.is_read_enabled, contacts.is_write_enabled) == (False, True)
    assert (contacts.name, contacts.is_write_supported) == ("contacts", True)
    [event] = rows
    assert event.data["changes"] == {"is_read_enabled": [True, False], "is_write_enabled": [False, True]}
    assert superuser_client.get(reverse("admin:connections_connectionmodel_add")).status_code == 403


# --- the Support role -----------------------------------------------------------------------------------


def test_support_still_cannot_edit_applications_keys_customers_or_synced_models(support_client, application, synced):
    _, contacts, _ = synced
    api_key, _ = api_key_create(application=application, name="Old name")
    customer = CustomerFactory(application=application, name="Mine")
    posts = [
        (reverse("admin:tenants_application_change", args=[application.pk]), application_form(application, name="x")),
        (reverse("admin:tenants_apikey_change", args=[api_key.pk]), {"name": "x"}),
        (reverse("admin:tenants_customer_change", args=[customer.pk]), customer_form(customer, name="x")),
        (reverse("admin:connections_connectionmodel_change", args=[contacts.pk]), {"is_write_enabled": "on"}),
    ]
    for url, form in posts:
        response, rows = audit_rows_written(lambda url=url, form=form: support_client.post(url, form))
        assert (response.status_code, rows) == (403, []), url
    assert support_client.get(reverse("admin:tenants_customer_add")).status_code == 403
    assert (Application.objects.get(pk=application.pk).name, ApiKey.objects.get(pk=api_key.pk).name) == (
        "Acme Corp", "Old name"
    )  # fmt: skip
    assert Customer.objects.get(pk=customer.pk).name == "Mine"
    assert ConnectionModel.objects.get(pk=contacts.pk).is_write_enabled is False


def test_support_edits_the_connection_but_not_its_synced_models(support_client, synced):
    connection, contacts, invoices = synced
    url = reverse("admin:connections_connection_change", args=[connection.pk])
    form = connection_page_form(
        connection, [contacts, invoices], display_name="By support", **{"models-0-is_write_enabled": "on"}
    )
    response, rows = audit_rows_written(lambda: support_client.post(url, form))
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Connection.objects.get(pk=connection.pk).display_name == "By support"
    assert ConnectionModel.objects.get(pk=contacts.pk).is_write_enabled is False
    assert [(row.action, row.actor) for row in rows] == [("connection.updated", "staff:helpdesk")]
