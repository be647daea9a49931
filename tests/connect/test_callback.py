"""The callback against a second, independent OAuth server whose provider exists only as a catalog YAML file."""

from datetime import timedelta
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.catalog.models import ConnectorConfig
from apps.connect.links import start_path
from apps.connect.models import OAuthAttempt
from apps.connect.services import oauth_attempt_start
from apps.connections.models import Connection
from apps.connections.services import connection_create
from tests.factories import ConnectorConfigFactory, provider_for

pytestmark = pytest.mark.django_db


def follow_provider(authorize_url: str) -> str:
    """The independent server auto-approves: return the path + query it sends the browser back to."""
    response = requests.get(authorize_url, allow_redirects=False, timeout=5)
    assert response.status_code == 302
    parts = urlsplit(response.headers["Location"])
    return f"{parts.path}?{parts.query}"


def start(client, connection) -> str:
    response = client.get(start_path(connection))
    assert response.status_code == 302, response.content[:300]
    return response["Location"]


def raw_credentials(connection):
    return Connection.objects.filter(pk=connection.pk).values_list("credentials", flat=True).first()


def assert_clean_error_page(response, *, status: int, text: str, connection):
    body = response.content.decode()
    assert response.status_code == status
    assert text in body
    assert "Traceback" not in body
    assert connection.connector_config.secret_value not in body
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["Cache-Control"] == "no-store"


def test_catalog_only_provider_completes_the_flow_with_no_code_change(client, application, customer, acme_config):
    connection = connection_create(application=application, customer=customer, provider=acme_config.provider)

    form = client.get(start_path(connection))
    assert form.status_code == 200
    assert "Before you sign in" in form.content.decode()
    assert client.post(start_path(connection), {"tenant": "Not Valid"}).status_code == 422
    saved = client.post(start_path(connection), {"tenant": "acme"})
    assert saved.status_code == 302

    authorize_url = start(client, connection)
    assert authorize_url.startswith(acme_config.provider.oauth["authorize_url"].split("{")[0] + "acme/authorize")
    callback = client.get(follow_provider(authorize_url))

    assert callback.status_code == 302
    assert callback["Location"] == f"/connect/setup/{connection.pk}/"
    assert callback["Referrer-Policy"] == "no-referrer"
    connection.refresh_from_db()
    assert not connection.is_authentication_pending
    assert raw_credentials(connection).startswith("pbv1:")
    assert connection.status == Connection.Status.HEALTHY

    setup = client.get(callback["Location"])
    body = setup.content.decode()
    assert '<select id="id_region" name="region"' in body
    assert client.post(callback["Location"], {"tenant": "acme", "region": "mars"}).status_code == 422
    done = client.post(callback["Location"], {"tenant": "acme", "region": "eu"}, follow=True)
    assert "Connected" in done.content.decode()
    connection.refresh_from_db()
    assert connection.is_configured


def test_pkce_verifier_and_client_secret_reach_the_token_endpoint(client, acme_connection, oauth_server):
    authorize_url = start(client, acme_connection)
    query = parse_qs(urlsplit(authorize_url).query)
    assert query["code_challenge_method"] == ["S256"]
    client.get(follow_provider(authorize_url))
    assert oauth_server.token_requests[-1]["code_verifier"]
    assert "client_secret" not in oauth_server.token_requests[-1]  # client_auth: basic


def test_callback_resolves_the_oauth_client_once(client, acme_connection, acme_config):
    """A connection without its own config falls back to the application's: one lookup per callback."""
    Connection.objects.filter(pk=acme_connection.pk).update(connector_config=None)
    callback_path = follow_provider(start(client, acme_connection))
    with CaptureQueriesContext(db_connection) as queries:
        assert client.get(callback_path).status_code == 302
    config_table = ConnectorConfig._meta.db_table
    config_reads = [q for q in queries if q["sql"].startswith("SELECT") and f'FROM "{config_table}"' in q["sql"]]
    assert len(config_reads) == 1
    acme_connection.refresh_from_db()
    assert acme_connection.connector_config_id == acme_config.pk


def test_callback_statements_stay_few(client, application, acme_connection, django_assert_max_num_queries):
    """Read and claim the attempt, lock and write the connection, audit, the webhook's outbox row, the
    session: a statement more on every callback is a regression (issue #14's overhead target)."""
    application.webhook_url = "https://hooks.example.com/patchbay"
    application.save(update_fields=["webhook_url"])
    callback_path = follow_provider(start(client, acme_connection))
    with django_assert_max_num_queries(9):  # the transaction's BEGIN and COMMIT (here a savepoint) included
        assert client.get(callback_path).status_code == 302


@pytest.mark.parametrize(
    ("mode", "status", "text"),
    [
        ("reject", 502, "refused the authorization"),
        ("error500", 502, "did not answer in time or had an error"),
        ("timeout", 502, "did not answer in time or had an error"),
        ("malformed", 502, "could not read"),
    ],
)
def test_token_endpoint_failures_show_a_clear_page_and_store_nothing(
    client, settings, acme_connection, oauth_server, mode, status, text
):
    settings.PATCHBAY_PROVIDER_TIMEOUT_SECONDS = 1
    oauth_server.mode = mode
    oauth_server.delay_seconds = 2.5
    callback = client.get(follow_provider(start(client, acme_connection)))

    assert_clean_error_page(callback, status=status, text=text, connection=acme_connection)
    acme_connection.refresh_from_db()
    assert acme_connection.is_authentication_pending
    assert raw_credentials(acme_connection) is None


def test_forged_state_is_rejected(client, acme_connection):
    start(client, acme_connection)
    response = client.get("/connect/callback/acme-oauth", {"code": "abc", "state": "forged-state"})
    assert_clean_error_page(
        response, status=400, text="does not match a connection attempt", connection=acme_connection
    )


def test_iss_must_be_the_issuer_the_catalog_declares(client, acme_connection, oauth_server):
    """RFC 9207: a callback carrying another server's `iss`, or none, is refused; the right one completes."""
    provider = acme_connection.provider
    provider.definition["oauth"]["issuer"] = oauth_server.url
    provider.save()
    evil = follow_provider(start(client, acme_connection)) + "&iss=" + quote("https://evil.example", safe="")
    assert_clean_error_page(client.get(evil), status=400, text="expected issuer", connection=acme_connection)
    missing = follow_provider(start(client, acme_connection))
    assert_clean_error_page(client.get(missing), status=400, text="expected issuer", connection=acme_connection)
    assert raw_credentials(acme_connection) is None
    good = follow_provider(start(client, acme_connection)) + "&iss=" + quote(oauth_server.url, safe="")
    assert client.get(good).status_code == 302
    assert Connection.objects.get(pk=acme_connection.pk).is_authentication_pending is False


def test_missing_state_is_rejected(client, acme_connection):
    response = client.get("/connect/callback/acme-oauth", {"code": "abc"})
    assert_clean_error_page(response, status=400, text="does not match", connection=acme_connection)


def test_replayed_state_is_rejected_and_credentials_unchanged(client, acme_connection):
    callback_path = follow_provider(start(client, acme_connection))
    assert client.get(callback_path).status_code == 302
    stored = raw_credentials(acme_connection)

    replay = client.get(callback_path)

    assert_clean_error_page(replay, status=400, text="already been used", connection=acme_connection)
    assert raw_credentials(acme_connection) == stored


def test_expired_state_is_rejected(client, acme_connection, oauth_server):
    callback_path = follow_provider(start(client, acme_connection))
    OAuthAttempt.objects.filter(connection=acme_connection).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = client.get(callback_path)

    assert_clean_error_page(response, status=400, text="expired", connection=acme_connection)
    assert oauth_server.token_requests == []


def test_state_issued_for_another_provider_is_rejected(client, acme_connection, oauth_server):
    callback_path = follow_provider(start(client, acme_connection))
    query = urlsplit(callback_path).query

    response = client.get(f"/connect/callback/patchbay-sandbox?{query}")

    assert_clean_error_page(response, status=400, text="different provider", connection=acme_connection)
    assert oauth_server.token_requests == []


def test_state_is_checked_against_the_provider_its_attempt_was_issued_for(client, acme_connection, oauth_server):
    callback_path = follow_provider(start(client, acme_connection))
    OAuthAttempt.objects.filter(connection=acme_connection).update(provider=provider_for("patchbay-sandbox"))

    response = client.get(callback_path)

    assert_clean_error_page(response, status=400, text="different provider", connection=acme_connection)
    assert oauth_server.token_requests == []


def test_access_denied_is_a_clear_page(client, acme_connection):
    authorize_url = start(client, acme_connection)
    state = parse_qs(urlsplit(authorize_url).query)["state"][0]
    response = client.get("/connect/callback/acme-oauth", {"error": "access_denied", "state": state})
    assert_clean_error_page(response, status=400, text="not approved", connection=acme_connection)


def test_other_provider_error_is_shown_without_markup(client, acme_connection):
    authorize_url = start(client, acme_connection)
    state = parse_qs(urlsplit(authorize_url).query)["state"][0]
    response = client.get(
        "/connect/callback/acme-oauth",
        {"error": "server_error", "error_description": "<b>maintenance</b>", "state": state},
    )
    assert_clean_error_page(response, status=400, text="server_error", connection=acme_connection)
    assert "<b>maintenance</b>" not in response.content.decode()


def test_connect_link_whose_connector_config_was_removed_shows_clear_page(client, application, customer):
    provider = provider_for("patchbay-sandbox")
    config = ConnectorConfigFactory(application=application, provider=provider)
    connection = connection_create(application=application, customer=customer, provider=provider)
    config.delete()
    response = client.get(start_path(connection))
    assert response.status_code == 409
    assert "not set up yet" in response.content.decode()


def test_unknown_connect_link_is_a_clear_404(client):
    response = client.get("/connect/start/not-a-real-token")
    assert response.status_code == 404
    assert "no longer valid" in response.content.decode()


def test_authenticated_connection_link_does_not_restart_the_flow(client, acme_connection):
    old_link = start_path(acme_connection)
    client.get(follow_provider(start(client, acme_connection)))
    acme_connection.refresh_from_db()
    # The link used for the consent was voided when the token was stored (connect_nonce rotated) ...
    assert client.get(old_link).status_code == 404
    # ... and a current link of an authenticated connection goes to its setup, not to the provider again.
    response = client.get(start_path(acme_connection))
    assert response.status_code == 302
    assert response["Location"] == f"/connect/setup/{acme_connection.pk}/"


def test_oauth_attempt_stores_only_hashes_and_encrypted_verifier(acme_connection):
    authorize_url = oauth_attempt_start(connection=acme_connection)
    state = parse_qs(urlsplit(authorize_url).query)["state"][0]
    attempt = OAuthAttempt.objects.get(connection=acme_connection)
    raw_verifier = OAuthAttempt.objects.filter(pk=attempt.pk).values_list("code_verifier", flat=True).first()
    assert state not in attempt.state_hash
    assert raw_verifier.startswith("pbv1:")
    assert attempt.redirect_uri.endswith("/connect/callback/acme-oauth")
    assert attempt.expires_at - timezone.now() <= timedelta(minutes=10)


def test_disabled_connector_config_shows_not_configured(client, application, customer, acme_provider):
    config = ConnectorConfigFactory(application=application, provider=acme_provider)
    connection = connection_create(
        application=application, customer=customer, provider=acme_provider, settings={"tenant": "acme"}
    )
    config.is_enabled = False
    config.save()
    assert client.get(start_path(connection)).status_code == 409
