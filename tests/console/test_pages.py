"""Every console page renders for a superuser and for Support with a fixed number of queries, and no
secret created in the test (tokens, client secret, webhook secret, API key, TOTP seed) reaches any page."""

import re
import uuid
from datetime import timedelta

import pytest
from django.contrib import admin
from django.db import connection as db_connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.api.models import CustomerToken
from apps.api.services import customer_token_create
from apps.audit.models import AuditEvent
from apps.catalog.models import ConnectorConfig
from apps.connect.models import ConnectSession, OAuthAttempt
from apps.connections.models import Connection, ConnectionModel, RefreshEvent, SyncRun
from apps.connections.services import connection_refresh_credentials
from apps.tenants.models import ApiKey
from apps.tenants.services import api_key_create
from apps.webhooks.models import WebhookDelivery
from tests.console.conftest import SECRETS, WEBHOOK_SECRET
from tests.factories import ApplicationFactory, CustomerFactory

pytestmark = pytest.mark.django_db

TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
SUPPORT_HIDDEN = {"auth", "mfa", "account"}  # staff accounts and their MFA devices: superusers only


@pytest.fixture
def world(application, connect, superuser, oauth_provider):
    """One of everything, built through the services where one exists."""
    from allauth.mfa.totp.internal.auth import TOTP

    connection = connect()
    connection_refresh_credentials(connection_id=connection.pk, force=True)  # a refresh in the history
    model = ConnectionModel.objects.create(connection=connection, name="contacts", display_name="Contacts")
    SyncRun.objects.create(model=model)
    OAuthAttempt.objects.create(
        connection=connection,
        provider=oauth_provider,
        state_hash="a" * 64,
        code_verifier={"verifier": SECRETS[0]},
        redirect_uri="http://127.0.0.1:8000/connect/callback/fake-crm",
        expires_at=timezone.now() + timedelta(minutes=10),
    )
    ConnectSession.objects.create(
        application=application, customer=connection.customer, token_hash="b" * 64, expires_at=timezone.now()
    )
    api_key, raw_key = api_key_create(application=application, name="seed")
    customer_token, raw_customer_token = customer_token_create(
        customer=connection.customer, ttl=timedelta(hours=1), actor=f"api_key:{api_key.pk}"
    )
    TOTP.activate(superuser, TOTP_SECRET)
    return {
        "connection": connection,
        "raw_key": raw_key,
        "key_hash": api_key.key_hash,
        "customer_token": customer_token,
        "raw_customer_token": raw_customer_token,
    }


def object_for(model):
    return model._default_manager.order_by().first()


def console_pages(user=None):
    """Index, app pages, and per model: list, search, change, history, and add where the user may add."""
    pages = [reverse("admin:index")]
    request = RequestFactory().get("/admin/")
    request.user = user
    for model, model_admin in admin.site._registry.items():
        info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        pages += [reverse(f"{info}_changelist"), reverse(f"{info}_changelist") + "?q=acme"]
        obj = object_for(model)
        if obj is not None:
            pages.append(reverse(f"{info}_change", args=[obj.pk]))
            pages.append(reverse(f"{info}_history", args=[obj.pk]))
        if user is None or model_admin.has_add_permission(request):
            pages.append(reverse(f"{info}_add"))
        pages.append(reverse("admin:app_list", args=[model._meta.app_label]))
    return list(dict.fromkeys(pages))


def forbidden_strings(world) -> list[str]:
    return [
        *SECRETS,
        world["raw_key"],
        world["key_hash"],
        world["raw_customer_token"],
        world["customer_token"].token_hash,
        TOTP_SECRET,
        "pbv1:",
    ]


def render(client, url):
    with CaptureQueriesContext(db_connection) as queries:
        response = client.get(url)
    return response, len(queries)


@pytest.mark.parametrize("who", ["superuser", "support"])
def test_every_page_renders_without_secrets(who, world, superuser, support_user, client):
    user = superuser if who == "superuser" else support_user
    client.force_login(user)
    user_client = client
    rendered = 0
    pages = console_pages(superuser)
    for url in pages:
        response, _ = render(user_client, url)
        app_label = url.split("/")[2] if url.count("/") > 2 else ""
        if who == "support" and (app_label in SUPPORT_HIDDEN or url.endswith("/add/")):
            assert response.status_code in (403, 404), url
            continue
        assert response.status_code == 200, (url, response.status_code)
        html = response.content.decode()
        for secret in forbidden_strings(world):
            assert secret not in html, f"{secret!r} rendered on {url}"
        rendered += 1
    assert rendered > 40


def test_page_query_counts_do_not_grow_with_rows(world, superuser, superuser_client, connect, application):
    """Every page is measured, then the world grows (more connections, deliveries, audit rows, runs) and
    every page must cost the same number of queries."""
    pages = console_pages(superuser)
    for url in pages:  # warm the per-process caches (content types, permissions) a first render fills
        render(superuser_client, url)
    before = {url: render(superuser_client, url)[1] for url in pages}
    for n in range(6):
        grown = connect(external_id=f"more-{n}")
        model = ConnectionModel.objects.create(connection=grown, name="deals", display_name="Deals")
        SyncRun.objects.create(model=model)
        SyncRun.objects.create(model=ConnectionModel.objects.get(connection=world["connection"]))
        connection_refresh_credentials(connection_id=grown.pk, force=True)
    for action in ("check_health", "force_refresh", "force_refresh"):
        superuser_client.post(reverse("admin:connections_connection_run", args=[world["connection"].pk, action]))
    assert RefreshEvent.objects.filter(connection=world["connection"]).count() == 3
    after = {url: render(superuser_client, url)[1] for url in pages}
    grew = {url: (before[url], after[url]) for url in pages if after[url] != before[url]}
    assert not grew, grew


def test_connection_list_costs_the_same_at_10_and_1000_rows(superuser_client, application, oauth_provider):
    customers = CustomerFactory.create_batch(10, application=application)

    def add(count):
        Connection.objects.bulk_create(
            Connection(application=application, customer=customers[n % 10], provider=oauth_provider, status=status)
            for n in range(count)
            for status in ["healthy"]
        )

    url = reverse("admin:connections_connection_changelist")
    add(10)
    small = [render(superuser_client, url + query)[1] for query in ("", "?failing=1", "?q=customer", "?category=crm")]
    add(990)
    assert Connection.objects.count() == 1000
    large = [render(superuser_client, url + query)[1] for query in ("", "?failing=1", "?q=customer", "?category=crm")]
    assert small == large
    assert max(large) <= 12
    dashboard_small = render(superuser_client, reverse("admin:index"))[1]
    add(5)
    assert render(superuser_client, reverse("admin:index"))[1] == dashboard_small


def test_support_cannot_change_connector_configs_keys_or_applications(support_client, world, connector_config):
    application = world["connection"].application
    api_key = ApiKey.objects.get(application=application)
    for name, obj in (
        ("catalog_connectorconfig", connector_config),
        ("tenants_apikey", api_key),
        ("tenants_application", application),
    ):
        change = reverse(f"admin:{name}_change", args=[obj.pk])
        page = support_client.get(change)
        assert page.status_code == 200
        html = page.content.decode()
        assert 'name="new_client_secret"' not in html and 'type="submit"' not in html.split('id="content-main"')[1]
        assert support_client.post(change, {"client_id": "hijacked", "name": "hijacked"}).status_code == 403
        assert support_client.get(reverse(f"admin:{name}_add")).status_code == 403
    response = support_client.post(
        reverse("admin:tenants_apikey_changelist"), {"action": "revoke_keys", "_selected_action": [api_key.pk]}
    )
    assert response.status_code in (200, 302)
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is None
    assert ConnectorConfig.objects.get(pk=connector_config.pk).client_id != "hijacked"


def test_support_edits_connection_settings_through_the_service(support_client, world):
    connection = world["connection"]
    url = reverse("admin:connections_connection_change", args=[connection.pk])
    response = support_client.post(
        url,
        {"display_name": "Renamed by support", "settings": "{}", "metadata": '{"ticket": "T-1"}',
         "models-TOTAL_FORMS": "0", "models-INITIAL_FORMS": "0",
         "sync_runs-TOTAL_FORMS": "0", "sync_runs-INITIAL_FORMS": "0"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    connection.refresh_from_db()
    assert (connection.display_name, connection.metadata) == ("Renamed by support", {"ticket": "T-1"})
    event = AuditEvent.objects.get(action="connection.updated", target_id=connection.pk)
    assert (event.actor, event.ip_address) == ("staff:helpdesk", "127.0.0.1")


def test_audit_log_is_read_only_for_everyone(superuser_client, world):
    event = AuditEvent.objects.first()
    change = reverse("admin:audit_auditevent_change", args=[event.pk])
    html = superuser_client.get(change).content.decode()
    assert "deletelink" not in html and 'name="action"' not in html
    assert (
        superuser_client.post(reverse("admin:audit_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert superuser_client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    response = superuser_client.post(
        reverse("admin:audit_auditevent_changelist"), {"action": "delete_selected", "_selected_action": [event.pk]}
    )
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    assert response.status_code in (200, 302)


def test_connection_page_reads_as_a_product(superuser_client, world):
    connection = world["connection"]
    html = superuser_client.get(reverse("admin:connections_connection_change", args=[connection.pk])).content.decode()
    assert "<h1>Fake CRM · Acme Corp (acme-42) · Healthy</h1>" in html
    assert re.search(r"set · expires \d{4}-\d\d-\d\d \d\d:\d\d", html)
    assert 'class="pb-timeline"' in html and "connection.authenticated" in html and "webhook connection.created" in html
    assert "Contacts" in html  # synced models inline
    assert 'id="sync_runs-group"' in html and "Scheduled" in html  # recent sync runs inline, read-only
    assert 'name="sync_runs-0-status"' not in html


def test_the_sync_runs_inline_shows_the_newest_ten_of_this_connection_only(superuser_client, world, connect):
    connection = world["connection"]
    model = ConnectionModel.objects.get(connection=connection)
    runs = [SyncRun.objects.create(model=model, attempt=n) for n in range(2, 15)]
    other = connect(external_id="other")
    foreign = SyncRun.objects.create(model=ConnectionModel.objects.create(connection=other, name="deals"))
    html = superuser_client.get(reverse("admin:connections_connection_change", args=[connection.pk])).content.decode()
    shown = re.findall(r'name="sync_runs-\d+-id" value="([^"]+)"', html)
    assert shown == [run.pk for run in reversed(runs)][:10]
    assert foreign.pk not in html


def test_labels_read_as_words(superuser_client, world):
    index = superuser_client.get(reverse("admin:index")).content.decode()
    for section in (
        "Customers &amp; connections",
        "Catalog",
        "Webhooks",
        "Audit",
        "Sandbox",
        "Applications &amp; API keys",
    ):
        assert section in index, section
    for raw in ("O auth attempts", "Webhook deliverys", "Api keys", "Oauth2", "Connection models", "refreshs"):
        assert raw not in index, raw
    assert "Synced models" in index and "Token refreshes" in index
    providers = superuser_client.get(reverse("admin:catalog_provider_changelist")).content.decode()
    assert "OAuth 2.0" in providers and '["' not in providers
    assert ">Ga<" not in providers


def test_support_may_send_a_test_webhook_but_not_rotate_the_secret(support_client, world, receiver):
    application = world["connection"].application
    changelist = reverse("admin:tenants_application_changelist")
    page = support_client.get(changelist).content.decode()
    assert 'value="send_test_webhook"' in page and 'value="rotate_webhook_secret"' not in page
    support_client.post(changelist, {"action": "rotate_webhook_secret", "_selected_action": [application.pk]})
    application.refresh_from_db()
    assert application.webhook_secret["secret"] == WEBHOOK_SECRET
    response = support_client.post(
        changelist, {"action": "send_test_webhook", "_selected_action": [application.pk]}, follow=True
    )
    assert "test event" in response.content.decode()
    assert AuditEvent.objects.filter(action="webhook.test_sent", actor="staff:helpdesk").exists()


def test_migrate_leaves_a_support_group_with_view_and_operate_rights_only(db):
    from django.contrib.auth.models import Group

    codenames = set(Group.objects.get(name="Support").permissions.values_list("codename", flat=True))
    assert {"view_connection", "change_connection", "view_webhookdelivery", "change_webhookdelivery"} <= codenames
    assert {"view_customertoken", "change_customertoken", "view_refreshevent"} <= codenames
    assert {"view_connectorconfig", "view_apikey", "view_application", "view_auditevent"} <= codenames
    superuser_only = {
        "change_connectorconfig", "change_apikey", "add_apikey", "change_application", "delete_connection",
        "delete_customer", "delete_auditevent", "view_user", "view_authenticator",
    }  # fmt: skip
    assert not codenames & superuser_only


def test_support_sees_customer_tokens_without_the_token_and_revokes_one_through_the_service(support_client, world):
    token = world["customer_token"]
    customer_api = Client(headers={"Authorization": f"Bearer {world['raw_customer_token']}"})
    assert customer_api.get("/api/v1/connections").status_code == 200
    changelist = reverse("admin:api_customertoken_changelist")
    listed = support_client.get(changelist + "?state=active").content.decode()
    assert token.pk in listed and "acme-42" in listed and "Active" in listed
    page = support_client.get(reverse("admin:api_customertoken_change", args=[token.pk])).content.decode()
    assert 'type="submit"' not in page.split('id="content-main"')[1]
    assert support_client.post(reverse("admin:api_customertoken_delete", args=[token.pk])).status_code == 403

    support_client.post(changelist, {"action": "revoke_tokens", "_selected_action": [token.pk]})

    assert customer_api.get("/api/v1/connections").status_code == 401
    event = AuditEvent.objects.get(action="customer_token.revoked", target_id=token.pk)
    assert (event.actor, event.ip_address) == ("staff:helpdesk", "127.0.0.1")
    assert "Revoked" in support_client.get(changelist + "?state=revoked").content.decode()


LABEL_PATTERNS = [
    r'<th[^>]*class="[^"]*column-[^"]*"[^>]*>\s*(?:<div class="text">)?(?:<a[^>]*>)?\s*(?:<span>)?([^<]+)',
    r"<label[^>]*>([^<]+)</label>",
    r"<summary>\s*By ([^<]+)\s*</summary>",
    r"<h3>\s*By ([^<]+)</h3>",
    r'<h2[^>]*class="inline-heading"[^>]*>\s*([^<]+)',
]
COLUMN_NAME_WORDS = re.compile(r"^Is |^is |\b(Id|id|Url|url|Uri|uri)\b|_")


def test_no_label_on_any_page_reads_like_a_column_name(superuser_client, world, superuser):
    """Headers, form labels, filter titles and inline headings on every page: "Is read enabled", "Client
    id", "Webhook url" are column names, not words (staff-account pages are Django's own)."""
    leftovers = {}
    for url in console_pages(superuser):
        if url.split("/")[2] in SUPPORT_HIDDEN:
            continue
        html = superuser_client.get(url).content.decode()
        for pattern in LABEL_PATTERNS:
            for label in re.findall(pattern, html):
                if COLUMN_NAME_WORDS.search(label.strip()):
                    leftovers.setdefault(label.strip(), url)
    assert not leftovers, leftovers


def grow_history(connection, count: int) -> None:
    """`count` more refreshes, sync runs, customer tokens, audit events and webhook deliveries."""
    now = timezone.now()
    model = ConnectionModel.objects.get(connection=connection)
    RefreshEvent.objects.bulk_create(
        RefreshEvent(
            application=connection.application,
            connection=connection,
            started_at=now,
            finished_at=now,
            outcome=RefreshEvent.Outcome.FAILED if n % 3 else RefreshEvent.Outcome.REFRESHED,
            trigger=RefreshEvent.Trigger.SWEEP,
            error_code="provider_unavailable" if n % 3 else "",
        )
        for n in range(count)
    )
    SyncRun.objects.bulk_create(SyncRun(model=model, connection=connection) for _ in range(count))
    CustomerToken.objects.bulk_create(
        CustomerToken(
            application=connection.application,
            customer=connection.customer,
            token_hash=uuid.uuid4().hex,
            expires_at=now + timedelta(hours=1),
            created_by="api_key:key_x",
        )
        for _ in range(count)
    )
    AuditEvent.objects.bulk_create(
        AuditEvent(
            application=connection.application,
            action="connection.updated",
            target_type="connection",
            target_id=connection.pk,
            actor="system",
        )
        for _ in range(count)
    )
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            application=connection.application,
            event_type="connection.updated",
            url="https://hooks.test/x",
            payload={"data": {"connection_id": connection.pk}},
        )
        for _ in range(count)
    )


@pytest.mark.parametrize("who", ["superuser", "support"])
def test_history_pages_cost_the_same_at_10_and_300_rows(
    who, world, superuser, support_user, client, django_assert_max_num_queries
):
    client.force_login(superuser if who == "superuser" else support_user)
    connection = world["connection"]
    pages = [
        reverse("admin:index"),
        reverse("admin:connections_connection_change", args=[connection.pk]),
        reverse("admin:connections_refreshevent_changelist"),
        reverse("admin:connections_refreshevent_changelist") + "?failed_recently=1",
        reverse("admin:connections_syncrun_changelist"),
        reverse("admin:api_customertoken_changelist") + "?state=active",
    ]
    grow_history(connection, 10)
    for url in pages:  # warm the per-process caches a first render fills
        render(client, url)
    at_ten = {url: render(client, url)[1] for url in pages}

    grow_history(connection, 290)
    for url in pages:
        with django_assert_max_num_queries(at_ten[url]):
            response = client.get(url)
        assert response.status_code == 200, url
    page = client.get(pages[1]).content.decode()
    assert page.count('<li class="pb-tone-') == 50  # the timeline stays bounded
    assert len(re.findall(r'name="sync_runs-\d+-id"', page)) == 10


def test_staff_see_where_webhooks_go_without_the_receivers_token(
    support_client, superuser, receiver, django_capture_on_commit_callbacks
):
    """A webhook URL often carries the receiver's token. Lists, messages, delivery pages and a view-only
    application page show scheme and host; the full URL is on the form of those who may edit it."""
    hidden = ("hook-user", "userinfo-secret", "path-secret", "query-secret")
    host = receiver.url.removeprefix("http://")
    application = ApplicationFactory(
        webhook_url=f"http://hook-user:userinfo-secret@{host}/hooks/path-secret?token=query-secret",
        webhook_secret={"secret": WEBHOOK_SECRET},
    )
    receiver.on("POST", "/hooks/path-secret", body={"ok": True})
    changelist = reverse("admin:tenants_application_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        sent = support_client.post(
            changelist, {"action": "send_test_webhook", "_selected_action": [application.pk]}, follow=True
        )
    delivery = WebhookDelivery.objects.get(application=application)
    assert delivery.status == WebhookDelivery.Status.DELIVERED, "the event still went to the full URL"
    pages = {
        "application list and message": sent.content.decode(),
        "application, view only": support_client.get(
            reverse("admin:tenants_application_change", args=[application.pk])
        ).content.decode(),
        "delivery list": support_client.get(reverse("admin:webhooks_webhookdelivery_changelist")).content.decode(),
        "delivery": support_client.get(
            reverse("admin:webhooks_webhookdelivery_change", args=[delivery.pk])
        ).content.decode(),
    }
    for name, page in pages.items():
        assert not [part for part in hidden if part in page], name
        assert name == "delivery list" or f"http://…@{host}/…?…" in page, name  # the list has no URL column
    editor = Client()
    editor.force_login(superuser)
    editable = editor.get(reverse("admin:tenants_application_change", args=[application.pk]))
    assert "query-secret" in editable.content.decode(), "an editor sees the URL they edit"


def test_a_receivers_token_cannot_be_found_by_searching_deliveries(support_client):
    """A search that matched inside webhook URLs would tell staff, one guess at a time, what token a URL
    carries; deliveries are found by their id, event type or application instead."""
    application = ApplicationFactory(name="Acme Hooks")
    delivery = WebhookDelivery.objects.create(
        application=application,
        event_type="connection.error",
        payload={"id": "evt_search", "type": "connection.error", "data": {}},
        url="https://hooks.example/in?token=query-secret",
        next_attempt_at=timezone.now(),
    )
    changelist = reverse("admin:webhooks_webhookdelivery_changelist")

    def found(term: str) -> bool:
        return (
            f'name="_selected_action" value="{delivery.pk}"'
            in support_client.get(changelist, {"q": term}).content.decode()
        )

    assert not found("query-secret") and not found("token=q")
    assert found("Acme Hooks") and found(delivery.pk)
