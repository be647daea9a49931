"""Console actions run end to end: the real services against a local provider and webhook receiver, and
each leaves an audit row saying who did it, what, when and from which IP."""

import json
import re

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.connect.links import authorization_url
from apps.connections.models import Connection
from apps.webhooks.models import WebhookDelivery
from tests.console.conftest import ACCESS_TOKEN, REFRESH_TOKEN, token_body
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:connections_connection_changelist"


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def run_bulk(client, action: str, connections, **extra):
    return client.post(
        reverse(CHANGELIST), {"action": action, "_selected_action": [c.pk for c in connections], **extra}, follow=True
    )


def run_on_page(client, action: str, connection):
    return client.post(reverse("admin:connections_connection_run", args=[connection.pk, action]), follow=True)


def audit_of(action: str, connection) -> AuditEvent:
    return AuditEvent.objects.get(action=action, target_id=connection.pk)


def test_check_health_now_updates_health_and_is_audited(superuser_client, connect, provider_server):
    connection = connect()
    provider_server.on("GET", "/me", status=401, body={"message": "token revoked by admin"})
    response = run_on_page(superuser_client, "check_health", connection)
    assert "Checked the health of 1 connection(s)." in messages_of(response)
    connection.refresh_from_db()
    assert connection.status == Connection.Status.ERROR
    assert connection.health_message == "token revoked by admin"
    event = audit_of("connection.health_checked", connection)
    assert (event.actor, event.ip_address, event.data["status"]) == ("staff:root", "127.0.0.1", "error")
    assert event.created_at is not None


def test_bulk_check_health(support_client, connect, provider_server):
    connections = [connect(external_id=f"c-{n}") for n in range(3)]
    response = run_bulk(support_client, "check_health", connections)
    assert "Checked the health of 3 connection(s)." in messages_of(response)
    assert AuditEvent.objects.filter(action="connection.health_checked", actor="staff:helpdesk").count() == 3
    assert len(provider_server.calls("/me")) >= 3 + 3  # three at connect time, three now


def test_force_refresh_gets_a_new_token_and_is_audited(superuser_client, connect, provider_server):
    connection = connect()
    provider_server.on("POST", "/token", body=token_body(access="at-console-secret-2", refresh="rt-console-secret-2"))
    response = run_on_page(superuser_client, "force_refresh", connection)
    assert "Refreshed 1 connection(s)." in messages_of(response)
    connection = Connection.objects.get(pk=connection.pk)
    assert connection.credentials["access_token"] == "at-console-secret-2"
    assert provider_server.calls("/token")[-1].form["refresh_token"] == REFRESH_TOKEN
    event = audit_of("connection.refresh_forced", connection)
    assert (event.actor, event.ip_address, event.data["outcome"]) == ("staff:root", "127.0.0.1", "refreshed")


def test_force_refresh_rejected_by_the_provider_shows_why_and_is_audited(superuser_client, connect, provider_server):
    connection = connect()
    provider_server.on("POST", "/token", status=400, body={"error": "invalid_grant"})
    response = run_on_page(superuser_client, "force_refresh", connection)
    assert response.status_code == 200
    errors = [m for m in messages_of(response) if "Fake CRM · Acme Corp (acme-42)" in m]
    assert errors and "Reconnect" in errors[0]
    assert audit_of("connection.refresh_forced", connection).data["outcome"] == "invalid_grant"
    connection = Connection.objects.get(pk=connection.pk)  # invalid_grant is terminal: wiped, reconnect offered
    assert connection.status == Connection.Status.DISCONNECTED and connection.credentials is None
    page = superuser_client.get(reverse("admin:connections_connection_change", args=[connection.pk])).content.decode()
    assert f'value="{authorization_url(connection)}"' in page and ACCESS_TOKEN not in page


def test_disconnect_revokes_wipes_audits_and_announces(
    support_client, connect, provider_server, receiver, django_capture_on_commit_callbacks
):
    connection = connect()
    with django_capture_on_commit_callbacks(execute=True):
        response = run_on_page(support_client, "disconnect", connection)
    assert "Disconnected 1 connection(s)." in messages_of(response)
    assert [call.form["token"] for call in provider_server.calls("/revoke")] == [REFRESH_TOKEN]
    connection = Connection.objects.get(pk=connection.pk)
    assert connection.credentials is None and connection.is_authentication_pending
    event = audit_of("connection.disconnected", connection)
    assert (event.actor, event.ip_address) == ("staff:helpdesk", "127.0.0.1")
    assert json.loads(receiver.calls("/hooks")[-1].body)["type"] == "connection.disconnected"


def test_reconnect_link_only_for_a_connection_waiting_for_its_customer(superuser_client, connect):
    connection = connect()
    response = run_on_page(superuser_client, "copy_reconnect_link", connection)
    assert any("has no reconnect link" in m for m in messages_of(response))
    assert not AuditEvent.objects.filter(action="connection.reconnect_link_copied").exists()

    run_on_page(superuser_client, "disconnect", connection)
    connection = Connection.objects.get(pk=connection.pk)
    response = run_bulk(superuser_client, "copy_reconnect_link", [connection])
    assert f"Reconnect link for Fake CRM · Acme Corp (acme-42) · Disconnected: {authorization_url(connection)}" in (
        messages_of(response)
    )
    event = audit_of("connection.reconnect_link_copied", connection)
    assert (event.actor, event.ip_address) == ("staff:root", "127.0.0.1")
    page = superuser_client.get(reverse("admin:connections_connection_change", args=[connection.pk])).content.decode()
    assert f'value="{authorization_url(connection)}"' in page


def test_disable_and_enable_sync(superuser_client, connect):
    connections = [connect(external_id=f"c-{n}") for n in range(2)]
    run_bulk(superuser_client, "disable_sync", connections)
    assert all(c.is_sync_disabled for c in Connection.objects.filter(pk__in=[c.pk for c in connections]))
    run_on_page(superuser_client, "enable_sync", connections[0])
    assert not Connection.objects.get(pk=connections[0].pk).is_sync_disabled
    updates = AuditEvent.objects.filter(action="connection.updated", actor="staff:root", ip_address="127.0.0.1")
    assert updates.count() == 3
    assert all(event.data["fields"] == ["is_sync_disabled"] for event in updates)


def test_resend_a_webhook_delivery(support_client, connect, receiver, django_capture_on_commit_callbacks):
    connect()
    original = WebhookDelivery.objects.get(event_type="connection.created")
    sent_before = len(receiver.calls("/hooks"))
    with django_capture_on_commit_callbacks(execute=True):
        response = support_client.post(
            reverse("admin:webhooks_webhookdelivery_changelist"),
            {"action": "resend", "_selected_action": [original.pk]},
            follow=True,
        )
    assert "Resent 1 delivery(ies)." in messages_of(response)
    resend = WebhookDelivery.objects.get(resent_from=original)
    assert resend.status == WebhookDelivery.Status.DELIVERED
    assert resend.last_response_status == 200 and resend.last_latency_ms is not None
    assert resend.last_response_excerpt == '{"ok": true}'
    calls = receiver.calls("/hooks")
    assert len(calls) == sent_before + 1
    assert json.loads(calls[-1].body)["id"] == original.payload["id"]
    event = AuditEvent.objects.get(action="webhook_delivery.resent", target_id=resend.pk)
    assert (event.actor, event.ip_address, event.data["resent_from"]) == ("staff:helpdesk", "127.0.0.1", original.pk)
    page = support_client.get(reverse("admin:webhooks_webhookdelivery_change", args=[resend.pk])).content.decode()
    for shown in ("200", "Delivered", "{&quot;ok&quot;: true}"):
        assert shown in page


def test_failed_webhook_delivery_shows_status_latency_and_excerpt(
    superuser_client, connect, receiver, django_capture_on_commit_callbacks
):
    receiver.on("POST", "/hooks", status=503, body={"error": "receiver down for maintenance"})
    connect()
    delivery = WebhookDelivery.objects.get(event_type="connection.created")
    assert (delivery.status, delivery.attempts, delivery.last_response_status) == ("pending", 1, 503)
    page = superuser_client.get(reverse("admin:webhooks_webhookdelivery_changelist") + "?failing=1").content.decode()
    assert "receiver down for maintenance" in page and "503" in page
    assert delivery.next_attempt_at is not None


def test_staff_without_the_support_role_cannot_run_actions(client, connect, provider_server):
    connection = connect()
    client.force_login(StaffUserFactory(username="intern", is_superuser=False))
    assert run_on_page(client, "disconnect", connection).status_code == 403
    response = client.post(reverse(CHANGELIST), {"action": "disconnect", "_selected_action": [connection.pk]})
    assert response.status_code == 403
    assert provider_server.calls("/revoke") == []
    assert Connection.objects.get(pk=connection.pk).credentials is not None


def test_unknown_action_and_get_are_refused(superuser_client, connect):
    connection = connect()
    assert run_on_page(superuser_client, "delete_everything", connection).status_code == 403
    url = reverse("admin:connections_connection_run", args=[connection.pk, "disconnect"])
    assert superuser_client.get(url).status_code == 403
    assert Connection.objects.get(pk=connection.pk).credentials is not None


def test_failing_refresh_shows_on_the_overview_the_filtered_lists_and_the_timeline(
    superuser_client, connect, provider_server
):
    connection = connect()
    healthy = connect(external_id="still-fine")
    provider_server.on("POST", "/token", status=503, body={"error": "temporarily_unavailable"})
    response = run_on_page(superuser_client, "force_refresh", connection)
    assert any("Fake CRM · Acme Corp (acme-42)" in m for m in messages_of(response))
    assert audit_of("connection.refresh_forced", connection).data["outcome"] != "refreshed"

    overview = superuser_client.get(reverse("admin:index")).content.decode()
    card = re.search(r'failed_recently=1">\s*<span class="pb-card__value">(\d+)</span>', overview)
    assert card and card.group(1) == "1"
    history = superuser_client.get(reverse("admin:connections_refreshevent_changelist") + "?failed_recently=1")
    assert connection.pk in history.content.decode() and "provider_unavailable" in history.content.decode()
    listed = superuser_client.get(reverse(CHANGELIST) + "?refresh_failing=1").content.decode()
    assert connection.pk in listed and healthy.pk not in listed
    page = superuser_client.get(reverse("admin:connections_connection_change", args=[connection.pk])).content.decode()
    assert "token refresh failed" in page


def test_the_timeline_merges_refreshes_audit_events_and_webhooks_newest_first(
    superuser_client, connect, provider_server, django_capture_on_commit_callbacks
):
    connection = connect()
    provider_server.on("POST", "/token", body=token_body(access="at-console-secret-2", refresh="rt-console-secret-2"))
    run_on_page(superuser_client, "force_refresh", connection)
    provider_server.on("POST", "/token", status=400, body={"error": "invalid_grant"})
    with django_capture_on_commit_callbacks(execute=True):
        run_on_page(superuser_client, "force_refresh", connection)

    page = superuser_client.get(reverse("admin:connections_connection_change", args=[connection.pk])).content.decode()
    timeline = page[page.index('class="pb-timeline"') :]
    titles = re.findall(r'<span class="pb-kind">(\w+)</span><span><strong>([^<]+)</strong>', timeline)
    refreshes = [title for kind, title in titles if kind == "refresh"]
    assert refreshes == ["refresh token revoked (invalid_grant)", "token refreshed"]
    assert ("webhook", "webhook connection.disconnected") in titles and ("audit", "connection.refresh_forced") in titles
    assert titles.index(("refresh", "token refreshed")) < titles.index(("audit", "connection.authenticated"))
    assert "forced by staff" in timeline and "invalid_grant: The provider revoked" in timeline
    times = re.findall(r'<time datetime="([^"]+)"', timeline)
    assert times == sorted(times, reverse=True)
    for secret in ("at-console-secret-2", "rt-console-secret-2", ACCESS_TOKEN, REFRESH_TOKEN):
        assert secret not in page


def test_failing_since_is_when_the_status_changed_not_the_last_check(superuser_client, connect, provider_server):
    connection = connect()
    healthy_since = Connection.objects.get(pk=connection.pk).status_changed_at
    provider_server.on("GET", "/me", status=401, body={"message": "token revoked by admin"})
    run_on_page(superuser_client, "check_health", connection)
    failing_since = Connection.objects.get(pk=connection.pk).status_changed_at
    assert failing_since > healthy_since
    run_on_page(superuser_client, "check_health", connection)
    again = Connection.objects.get(pk=connection.pk)
    assert again.status == Connection.Status.ERROR and again.status_changed_at == failing_since
    assert again.health_checked_at > failing_since
    overview = superuser_client.get(reverse("admin:index")).content.decode()
    assert f'<time datetime="{failing_since.isoformat()}' in overview
