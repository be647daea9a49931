"""Sync runs gain their connection: existing runs get their model's connection when the column is added."""

import pytest

from tests.migrations import migrate

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("back_to_latest")]

BEFORE = [("connections", "0007_refresh_event")]
AFTER = [("connections", "0009_labels_and_syncrun_connection_required")]


def test_existing_sync_runs_get_their_models_connection():
    old = migrate(BEFORE)
    application = old.get_model("tenants", "Application").objects.create(name="Acme", slug="acme")
    customer = old.get_model("tenants", "Customer").objects.create(application=application, external_id="c1")
    provider = old.get_model("catalog", "Provider").objects.create(
        name="acme-crm", display_name="Acme CRM", auth_type="oauth2", definition={}, source_file="acme-crm.yaml"
    )
    Connection = old.get_model("connections", "Connection")
    ConnectionModel = old.get_model("connections", "ConnectionModel")
    runs = {}
    for n in range(2):
        connection = Connection.objects.create(
            id=f"conn_{n}", application=application, customer=customer, provider=provider
        )
        model = ConnectionModel.objects.create(id=f"cmod_{n}", connection=connection, name="contacts")
        runs[connection.pk] = old.get_model("connections", "SyncRun").objects.create(id=f"sync_{n}", model=model).pk

    new = migrate(AFTER)
    SyncRun = new.get_model("connections", "SyncRun")
    assert {SyncRun.objects.get(pk=run).connection_id: run for run in runs.values()} == runs
