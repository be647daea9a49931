"""The staff console in a real browser: the overview, the connection list and a connection's page render
as a support person sees them (screenshots saved for review), and a page action runs from its button."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.audit.services import audit_record
from apps.connections.models import Connection, ConnectionModel, RefreshEvent, SyncRun
from apps.connections.services import refresh_events_record
from apps.console.services import support_group_sync
from apps.webhooks.models import WebhookDelivery
from tests.factories import ApplicationFactory, CustomerFactory, StaffUserFactory, provider_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def console_world(live):
    acme = ApplicationFactory(name="Acme Corp", webhook_url="https://hooks.acme.test/patchbay")
    globex = ApplicationFactory(name="Globex")
    now = timezone.now()
    rows = [
        (acme, "hubspot", "acme-42", "Acme Corp", "healthy", "", now + timedelta(minutes=50)),
        (acme, "salesforce", "initech-7", "Initech", "error", "Salesforce answered 503 Service Unavailable", None),
        (acme, "slack", "hooli-1", "Hooli", "disconnected", "The provider rejected the refresh token.", None),
        (globex, "github", "globex-9", "Globex HQ", "healthy", "", now + timedelta(hours=7)),
        (globex, "notion", "umbrella-3", "Umbrella", "unverified", "", None),
    ]
    connections = []
    for application, provider, external_id, name, status, message, expires in rows:
        connections.append(
            Connection.objects.create(
                application=application,
                customer=CustomerFactory(application=application, external_id=external_id, name=name),
                provider=provider_for(provider),
                status=status,
                health_message=message,
                health_status_code=status,
                health_checked_at=now - timedelta(minutes=12),
                is_authentication_pending=status == "disconnected",
                credentials=None if status == "disconnected" else {"access_token": "at-browser-secret"},
                credentials_expires_at=expires,
                scopes_granted=["crm.objects.contacts.read"] if provider == "hubspot" else [],
                last_refreshed_at=now - timedelta(minutes=10) if expires else None,
            )
        )
    hubspot = connections[0]
    refresh_history(hubspot, now)
    contacts = ConnectionModel.objects.create(connection=hubspot, name="contacts", display_name="Contacts")
    ConnectionModel.objects.create(connection=hubspot, name="deals", display_name="Deals", is_write_enabled=True)
    for hours_ago, status, error in (
        (3, "succeeded", None),
        (2, "failed", "HubSpot answered 429"),
        (1, "succeeded", None),
    ):
        SyncRun.objects.create(
            model=contacts, status=status, error=error, started_at=now - timedelta(hours=hours_ago),
            completed_at=now - timedelta(hours=hours_ago, seconds=-40),
        )  # fmt: skip
    audit_record(action="connection.created", target=hubspot, actor="api_key:key_01demo")
    audit_record(action="connection.authenticated", target=hubspot, actor="customer:acme-42")
    WebhookDelivery.objects.create(
        application=acme, event_type="connection.authenticated", url=acme.webhook_url,
        payload={"id": "evt_demo", "type": "connection.authenticated", "data": {"connection_id": hubspot.pk}},
        status="delivered", attempts=1, last_response_status=200, last_latency_ms=84, delivered_at=now,
    )  # fmt: skip
    WebhookDelivery.objects.create(
        application=acme, event_type="connection.error", url=acme.webhook_url, payload={"id": "evt_demo2"},
        attempts=3, last_response_status=502, last_error="HTTP 502", last_response_excerpt="Bad gateway",
        next_attempt_at=now + timedelta(minutes=4),
    )  # fmt: skip
    return connections


def refresh_history(connection, now):
    """Four refreshes as the sweep and a staff member recorded them: two fine, one refused, one recovered."""
    Outcome, Trigger = RefreshEvent.Outcome, RefreshEvent.Trigger
    rows = [
        (70, Outcome.REFRESHED, Trigger.SWEEP, "", ""),
        (40, Outcome.FAILED, Trigger.SWEEP, "provider_unavailable", "The provider did not answer in time."),
        (30, Outcome.REFRESHED, Trigger.ADMIN, "", ""),
        (10, Outcome.REFRESHED, Trigger.SWEEP, "", ""),
    ]
    refresh_events_record(
        events=[
            RefreshEvent(
                application=connection.application,
                connection=connection,
                outcome=outcome,
                trigger=trigger,
                started_at=now - timedelta(minutes=minutes, milliseconds=240),
                finished_at=now - timedelta(minutes=minutes),
                error_code=code,
                message=message,
            )
            for minutes, outcome, trigger, code, message in rows
        ]
    )


def logged_in(page, live, *, superuser: bool):
    user = StaffUserFactory(username="root" if superuser else "helpdesk", is_superuser=superuser)
    if not superuser:
        user.groups.add(support_group_sync())
    client = Client()
    client.force_login(user)
    host = live.url.split("//", 1)[1].split(":")[0]
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "domain": host, "path": "/"}]
    )
    return page


def test_console_overview_list_and_connection_page(page, live, console_world, screenshot):
    from playwright.sync_api import expect

    logged_in(page, live, superuser=False)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live.url}/admin/")
    expect(page.locator(".pb-card--bad").first).to_contain_text("2")
    expect(page.locator(".pb-dashboard")).to_contain_text("Salesforce answered 503 Service Unavailable")
    expect(page.locator(".pb-dashboard")).to_contain_text("Customers & connections")
    screenshot("console-dashboard")

    page.goto(f"{live.url}/admin/connections/connection/")
    expect(page.locator("#result_list tbody tr")).to_have_count(5)
    expect(page.locator("#result_list .pb-badge--error")).to_have_text("Error")
    expect(page.locator("#result_list img.pb-logo").first).to_be_visible()
    # Logos load lazily: wait for every one to finish, then require each to have decoded.
    page.wait_for_function("[...document.images].filter(i => i.classList.contains('pb-logo')).every(i => i.complete)")
    assert page.evaluate(
        "[...document.images].filter(i => i.classList.contains('pb-logo')).every(i => i.naturalWidth > 0)"
    )
    screenshot("console-connection-list")

    hubspot = console_world[0]
    page.goto(f"{live.url}/admin/connections/connection/{hubspot.pk}/change/")
    expect(page.locator("h1")).to_have_text("HubSpot · Acme Corp (acme-42) · Healthy")
    expect(page.locator(".pb-timeline")).to_contain_text("webhook connection.authenticated")
    expect(page.locator(".field-credentials_display")).to_contain_text("set · expires")
    expect(page.locator(".pb-timeline")).to_contain_text("token refresh failed")
    expect(page.locator(".pb-timeline")).to_contain_text("forced by staff")
    expect(page.locator("#sync_runs-group tr.has_original")).to_have_count(3)
    expect(page.locator("#sync_runs-group")).to_contain_text("HubSpot answered 429")
    expect(page.locator("#models-group")).to_contain_text("Deals")
    assert "at-browser-secret" not in page.content()
    screenshot("console-connection-page")

    # Saving the page posts the read-only inlines' management forms as the browser renders them.
    page.locator("#id_display_name").fill("Acme's HubSpot")
    page.locator('input[name="_continue"]').click()
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    assert Connection.objects.get(pk=hubspot.pk).display_name == "Acme's HubSpot"

    page.locator("button.pb-action--disable_sync").click()
    expect(page.locator(".messagelist")).to_contain_text("Disabled sync on 1 connection(s).")
    assert Connection.objects.get(pk=hubspot.pk).is_sync_disabled
