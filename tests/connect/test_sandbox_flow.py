"""The whole connect flow over real HTTP against the live server and the built-in sandbox provider."""

from urllib.parse import parse_qs, urlsplit

import pytest

from apps.connect.links import authorization_url
from apps.connect.models import OAuthAttempt
from apps.connections.models import Connection

pytestmark = pytest.mark.django_db(transaction=True)


def raw_credentials_column(connection) -> str | None:
    return Connection.objects.filter(pk=connection.pk).values_list("credentials", flat=True).first()


def test_full_flow_stores_encrypted_credentials_then_settings_make_it_configured(sandbox_connection, person):
    assert sandbox_connection.is_authentication_pending
    provider_url = person.open_connect_link(authorization_url(sandbox_connection))
    query = parse_qs(urlsplit(provider_url).query)
    assert provider_url.startswith(person.base_url + "/sandbox/o/authorize/")
    assert query["redirect_uri"] == [f"{person.base_url}/connect/callback/patchbay-sandbox"]
    assert query["code_challenge_method"] == ["S256"]
    attempt = OAuthAttempt.objects.get(connection=sandbox_connection)
    assert attempt.state_hash != query["state"][0] and len(attempt.state_hash) == 64
    assert attempt.code_verifier["verifier"]

    callback_url = person.consent(provider_url)
    page = person.http.get(callback_url, timeout=10)

    assert page.status_code == 200
    assert page.url.endswith(f"/connect/setup/{sandbox_connection.pk}/")
    assert "Finish setting up" in page.text
    assert page.history[0].headers["Referrer-Policy"] == "no-referrer"
    assert page.history[0].headers["Cache-Control"] == "no-store"
    sandbox_connection.refresh_from_db()
    assert not sandbox_connection.is_authentication_pending
    assert raw_credentials_column(sandbox_connection).startswith("pbv1:")
    assert sandbox_connection.credentials["access_token"] not in page.text
    assert sandbox_connection.missing_settings == ["workspace"]
    assert sandbox_connection.status == Connection.Status.HEALTHY

    invalid = person.post_form(page, {"workspace": "Not A Workspace!"})
    assert invalid.status_code == 422
    assert "expected format" in invalid.text

    done = person.post_form(invalid, {"workspace": "acme-demo"})
    assert done.status_code == 200
    assert "Connected" in done.text
    sandbox_connection.refresh_from_db()
    assert sandbox_connection.settings["workspace"] == "acme-demo"
    assert sandbox_connection.is_configured


def test_connect_link_issues_a_fresh_state_on_every_visit(sandbox_connection, person):
    first = parse_qs(urlsplit(person.open_connect_link(authorization_url(sandbox_connection))).query)["state"]
    second = parse_qs(urlsplit(person.open_connect_link(authorization_url(sandbox_connection))).query)["state"]
    assert first != second
    assert OAuthAttempt.objects.filter(connection=sandbox_connection).count() == 2


def test_access_denied_shows_clear_page_and_connection_stays_pending(sandbox_connection, person):
    callback_url = person.authorize(authorization_url(sandbox_connection), approve=False)
    assert "error=access_denied" in callback_url

    page = person.http.get(callback_url, timeout=10)

    assert page.status_code == 400
    assert "Access was not approved" in page.text
    assert "Traceback" not in page.text
    sandbox_connection.refresh_from_db()
    assert sandbox_connection.is_authentication_pending
    assert raw_credentials_column(sandbox_connection) is None


def test_replayed_state_is_rejected_and_credentials_unchanged(sandbox_connection, person):
    callback_url = person.authorize(authorization_url(sandbox_connection))
    assert person.http.get(callback_url, timeout=10).status_code == 200
    stored = raw_credentials_column(sandbox_connection)

    replay = person.http.get(callback_url, timeout=10)

    assert replay.status_code == 400
    assert "already been used" in replay.text
    assert raw_credentials_column(sandbox_connection) == stored


def test_tampered_pkce_verifier_makes_the_sandbox_refuse_the_code(sandbox_connection, person):
    provider_url = person.open_connect_link(authorization_url(sandbox_connection))
    attempt = OAuthAttempt.objects.get(connection=sandbox_connection)
    attempt.code_verifier = {"verifier": "x" * 64}
    attempt.save()
    callback_url = person.consent(provider_url)

    page = person.http.get(callback_url, timeout=10)

    assert page.status_code == 502
    assert "refused the authorization" in page.text
    sandbox_connection.refresh_from_db()
    assert sandbox_connection.is_authentication_pending
    assert raw_credentials_column(sandbox_connection) is None


def test_reconnect_replaces_tokens_atomically(sandbox_connection, person):
    person.http.get(person.authorize(authorization_url(sandbox_connection)), timeout=10)
    sandbox_connection.refresh_from_db()
    first_token = sandbox_connection.credentials["access_token"]
    from apps.connect.services import oauth_attempt_start

    provider_url = oauth_attempt_start(connection=sandbox_connection)
    person.http.get(person.consent(provider_url), timeout=10)

    sandbox_connection.refresh_from_db()
    assert sandbox_connection.credentials["access_token"] != first_token
    assert not sandbox_connection.is_authentication_pending


def test_api_key_provider_verifies_before_saving_and_shows_the_providers_message(sandbox_app, sandbox_customer, person):
    from apps.connections.services import connection_create
    from tests.factories import provider_for

    connection = connection_create(
        application=sandbox_app, customer=sandbox_customer, provider=provider_for("patchbay-sandbox-keys")
    )
    form = person.http.get(authorization_url(connection), timeout=10)
    assert form.status_code == 200
    assert 'type="password"' in form.text

    wrong = person.post_form(form, {"api_key": "not-a-sandbox-key"})
    assert wrong.status_code == 422
    assert "start with sk_sandbox_" in wrong.text
    assert "not-a-sandbox-key" not in wrong.text
    connection.refresh_from_db()
    assert connection.is_authentication_pending and raw_credentials_column(connection) is None

    done = person.post_form(wrong, {"api_key": "sk_sandbox_demo"})
    assert done.status_code == 200
    assert "Connected" in done.text
    connection.refresh_from_db()
    assert not connection.is_authentication_pending
    assert raw_credentials_column(connection).startswith("pbv1:")
    assert "sk_sandbox_demo" not in done.text


def test_sandbox_me_returns_the_signed_in_person(sandbox_connection, person):
    person.http.get(person.authorize(authorization_url(sandbox_connection)), timeout=10)
    sandbox_connection.refresh_from_db()
    token = sandbox_connection.credentials["access_token"]
    me = person.http.get(
        f"{person.base_url}/sandbox/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()
    assert me == {"id": me["id"], "name": "Ada Lovelace", "workspace_hint": "ada-lovelace-demo"}
