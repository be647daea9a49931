"""Admin deletes, single and bulk, go through the services: revoke at the provider, wipe, audit, webhook."""

import json

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.connections.models import Connection
from apps.tenants.models import ApiKey, Application, Customer
from apps.webhooks.models import WebhookDelivery
from tests.console.conftest import REFRESH_TOKEN

pytestmark = pytest.mark.django_db


def delivered_events(receiver) -> list[str]:
    return [json.loads(call.body)["type"] for call in receiver.calls("/hooks")]


def revoked_tokens(provider_server) -> list[str]:
    return [call.form["token"] for call in provider_server.calls("/revoke")]


def test_deleting_a_connection_revokes_wipes_audits_and_announces(
    superuser_client, connect, provider_server, receiver, django_capture_on_commit_callbacks
):
    connection = connect()
    url = reverse("admin:connections_connection_delete", args=[connection.pk])
    assert superuser_client.get(url).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = superuser_client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not Connection.objects.filter(pk=connection.pk).exists()
    assert revoked_tokens(provider_server) == [REFRESH_TOKEN]
    deleted = AuditEvent.objects.get(action="connection.deleted", target_id=connection.pk)
    assert (deleted.actor, deleted.ip_address) == ("staff:root", "127.0.0.1")
    assert AuditEvent.objects.filter(action="connection.disconnected", target_id=connection.pk).exists()
    assert delivered_events(receiver)[-2:] == ["connection.disconnected", "connection.deleted"]


def test_bulk_delete_of_connections_goes_through_the_service_for_each(
    superuser_client, connect, provider_server, receiver, django_capture_on_commit_callbacks
):
    connections = [connect(external_id=f"bulk-{n}") for n in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        response = superuser_client.post(
            reverse("admin:connections_connection_changelist"),
            {"action": "delete_selected", "_selected_action": [c.pk for c in connections], "post": "yes"},
        )
    assert response.status_code == 302
    assert not Connection.objects.filter(pk__in=[c.pk for c in connections]).exists()
    assert revoked_tokens(provider_server) == [REFRESH_TOKEN] * 3
    assert AuditEvent.objects.filter(action="connection.deleted", actor="staff:root").count() == 3
    assert delivered_events(receiver).count("connection.deleted") == 3


def test_deleting_a_customer_revokes_each_of_its_connections(
    superuser_client, connect, provider_server, receiver, django_capture_on_commit_callbacks
):
    connection = connect(external_id="acme-42")
    customer = connection.customer
    other = connect(external_id="other-customer")
    with django_capture_on_commit_callbacks(execute=True):
        response = superuser_client.post(reverse("admin:tenants_customer_delete", args=[customer.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Customer.objects.filter(pk=customer.pk).exists()
    assert Connection.objects.filter(pk=other.pk).exists()
    assert revoked_tokens(provider_server) == [REFRESH_TOKEN]
    event = AuditEvent.objects.get(action="customer.deleted", target_id=customer.pk)
    assert (event.actor, event.ip_address, event.data["connections_deleted"]) == ("staff:root", "127.0.0.1", 1)
    assert "connection.deleted" in delivered_events(receiver)


def test_bulk_delete_of_customers(superuser_client, connect, provider_server, django_capture_on_commit_callbacks):
    customers = [connect(external_id=f"c-{n}").customer for n in range(2)]
    with django_capture_on_commit_callbacks(execute=True):
        superuser_client.post(
            reverse("admin:tenants_customer_changelist"),
            {"action": "delete_selected", "_selected_action": [c.pk for c in customers], "post": "yes"},
        )
    assert not Customer.objects.filter(pk__in=[c.pk for c in customers]).exists()
    assert len(revoked_tokens(provider_server)) == 2
    assert AuditEvent.objects.filter(action="customer.deleted").count() == 2


def test_deleting_an_application_revokes_every_connection_and_keeps_its_audit_row(
    superuser_client, application, connect, provider_server, django_capture_on_commit_callbacks
):
    connections = [connect(external_id=f"c-{n}") for n in range(2)]
    with django_capture_on_commit_callbacks(execute=True):
        response = superuser_client.post(
            reverse("admin:tenants_application_delete", args=[application.pk]), {"post": "yes"}
        )
    assert response.status_code == 302
    assert not Application.objects.filter(pk=application.pk).exists()
    assert not ApiKey.objects.filter(application_id=application.pk).exists()
    assert revoked_tokens(provider_server) == [REFRESH_TOKEN] * 2
    assert AuditEvent.objects.filter(action="connection.deleted").count() == len(connections)
    # The tenant's webhook deliveries go with it; their queued sends find no row and stop quietly.
    assert not WebhookDelivery.objects.filter(application_id=application.pk).exists()
    event = AuditEvent.objects.get(action="application.deleted", target_id=application.pk)
    assert (event.actor, event.ip_address, event.data["slug"]) == ("staff:root", "127.0.0.1", application.slug)


def test_bulk_delete_of_applications(superuser_client, application, connect, provider_server):
    connect()
    superuser_client.post(
        reverse("admin:tenants_application_changelist"),
        {"action": "delete_selected", "_selected_action": [application.pk], "post": "yes"},
    )
    assert not Application.objects.exists()
    assert revoked_tokens(provider_server) == [REFRESH_TOKEN]


def test_support_cannot_delete_customers_or_applications(support_client, connect, provider_server):
    connection = connect()
    for url in (
        reverse("admin:tenants_customer_delete", args=[connection.customer_id]),
        reverse("admin:tenants_application_delete", args=[connection.application_id]),
        reverse("admin:connections_connection_delete", args=[connection.pk]),
    ):
        assert support_client.post(url, {"post": "yes"}).status_code == 403, url
    assert Connection.objects.filter(pk=connection.pk).exists()
    assert revoked_tokens(provider_server) == []
