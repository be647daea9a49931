"""The embedded widget over HTTP: framing, the token exchange, the header credential, and the outcomes a
sign-in window reports through the server (connected / error), each exactly once."""

import time
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from apps.connect.models import ConnectSession
from apps.connect.services import connect_session_create
from apps.connect.widget import CREDENTIAL_HEADER, POPUP_LINK_MAX_AGE
from apps.connections.models import Connection
from apps.connections.services import connection_create
from apps.tenants.services import hash_secret
from tests.factories import CustomerFactory

ORIGIN = "https://app.acme.test"


def start_widget(client, application, customer, *, origin=ORIGIN, **kwargs):
    """What widget.js does once connect.js has posted the token: returns the widget credential."""
    _session, token = connect_session_create(application=application, customer=customer, **kwargs)
    response = client.post("/connect/widget/session", {"token": token, "origin": origin})
    assert response.status_code == 200, response.content[:300]
    credential = response.content.decode().split(f'"{CREDENTIAL_HEADER}": "')[1].split('"')[0]
    return credential


def widget_headers(credential):
    return {"headers": {CREDENTIAL_HEADER: credential}}


def events(client, credential):
    response = client.get("/connect/widget/events", **widget_headers(credential))
    assert response.status_code == 200
    return response.json()["events"]


# --- framing and the exchange --------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("origin", "frame_ancestors"),
    [
        (ORIGIN, ORIGIN),
        ("https://evil.example", "'none'"),
        ("https://app.acme.test/path", "'none'"),
        ("", "'none'"),
    ],
)
def test_widget_page_is_framable_only_by_an_allowed_origin(client, application, origin, frame_ancestors):
    response = client.get("/connect/widget/", {"origin": origin})
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == f"frame-ancestors {frame_ancestors}"
    assert ("X-Frame-Options" in response) is (frame_ancestors == "'none'")
    assert not response.cookies


@pytest.mark.django_db
def test_exchange_gives_a_header_credential_once_and_sets_no_cookie(client, application, customer):
    session, token = connect_session_create(application=application, customer=customer, allowed_origin=ORIGIN)
    response = client.post("/connect/widget/session", {"token": token, "origin": ORIGIN})
    assert response.status_code == 200
    assert not response.cookies
    assert response["Content-Security-Policy"] == f"frame-ancestors {ORIGIN}"
    body = response.content.decode()
    credential = body.split(f'"{CREDENTIAL_HEADER}": "')[1].split('"')[0]
    assert credential.startswith("pbw_") and token not in body
    session.refresh_from_db()
    assert session.used_at is not None
    assert session.widget_credential_hash == hash_secret(credential)
    assert session.widget_origin == ORIGIN

    again = client.post("/connect/widget/session", {"token": token, "origin": ORIGIN})
    assert again.status_code == 410
    assert again.json()["error"]["code"] == "connect_session_used"


@pytest.mark.django_db
def test_exchange_refuses_another_origin_and_leaves_the_token_unused(client, application, customer):
    application.allowed_origins = [ORIGIN, "https://other.acme.test"]
    application.save()
    session, token = connect_session_create(application=application, customer=customer, allowed_origin=ORIGIN)

    refused = client.post("/connect/widget/session", {"token": token, "origin": "https://other.acme.test"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "widget_origin_not_allowed"
    assert "/api/v1/application" in refused.json()["error"]["message"]
    session.refresh_from_db()
    assert session.used_at is None and session.widget_credential_hash is None

    assert client.post("/connect/widget/session", {"token": token, "origin": ORIGIN}).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("session_providers", "sdk_providers", "shown"),
    [
        ([], "hubspot,patchbay-sandbox", ["hubspot", "patchbay-sandbox"]),
        (["hubspot", "salesforce"], "salesforce,slack", ["salesforce"]),
        (["hubspot"], "slack", ["hubspot"]),
    ],
)
def test_providers_from_connect_js_only_narrow_the_session(
    client, application, customer, session_providers, sdk_providers, shown
):
    session, token = connect_session_create(
        application=application, customer=customer, allowed_providers=session_providers
    )
    client.post("/connect/widget/session", {"token": token, "origin": ORIGIN, "providers": sdk_providers})
    session.refresh_from_db()
    assert session.allowed_providers == shown


# --- the credential and CSRF ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_widget_requests_need_a_live_credential(client, application, customer):
    assert client.get("/connect/widget/events").status_code == 401
    assert client.get("/connect/widget/events", **widget_headers("pbw_forged")).status_code == 401
    credential = start_widget(client, application, customer)
    assert client.get("/connect/widget/events", **widget_headers(credential)).status_code == 200

    ConnectSession.objects.filter(widget_credential_hash=hash_secret(credential)).update(
        widget_credential_expires_at=timezone.now() - timedelta(seconds=1)
    )
    expired = client.get("/connect/widget/events", **widget_headers(credential))
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == "widget_session_ended"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers",
    [{"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}, {"Origin": "https://evil.example"}],
)
def test_cross_site_widget_requests_are_refused_and_change_nothing(client, application, customer, acme_config, headers):
    credential = start_widget(client, application, customer)
    response = client.post("/connect/widget/add/acme-oauth", headers={CREDENTIAL_HEADER: credential, **headers})
    assert response.status_code == 403
    assert not Connection.objects.filter(customer=customer).exists()


@pytest.mark.django_db
def test_the_widget_cannot_touch_another_customers_connection(client, application, customer, acme_config):
    other = connection_create(
        application=application, customer=CustomerFactory(application=application), provider=acme_config.provider
    )
    credential = start_widget(client, application, customer)
    for path in (f"/connect/widget/c/{other.pk}/reconnect", f"/connect/widget/c/{other.pk}/disconnect"):
        response = client.post(path, **widget_headers(credential))
        assert response.status_code == 404
    other.refresh_from_db()
    assert other.status != Connection.Status.DISCONNECTED


# --- outcomes through the server (real HTTP, the built-in sandbox provider) ----------------------------


def follow_popup(person, popup_path):
    """The sign-in window: the popup link, then Patchbay's redirects, up to the provider's authorize URL."""
    url = person.url(popup_path)
    for _ in range(5):
        response = person.http.get(url, allow_redirects=False, timeout=10)
        if response.status_code != 302:
            return response
        url = person.url(response.headers["Location"])
        if "/sandbox/o/authorize/" in url:
            return url
    raise AssertionError("too many redirects")


@pytest.fixture
def widget_client(client, sandbox_app, sandbox_customer):
    sandbox_app.allowed_origins = [ORIGIN]
    sandbox_app.save()
    credential = start_widget(client, sandbox_app, sandbox_customer)
    client.defaults[f"HTTP_{CREDENTIAL_HEADER.upper().replace('-', '_')}"] = credential
    return client


def test_oauth_in_the_popup_reports_exactly_one_connected_after_the_settings(widget_client, person):
    started = widget_client.post("/connect/widget/add/patchbay-sandbox").json()
    authorize_url = follow_popup(person, started["popupUrl"])
    setup = person.http.get(person.consent(authorize_url), timeout=10)
    assert "Finish setting up" in setup.text
    assert widget_client.get("/connect/widget/events").json()["events"] == []  # signed in, settings missing

    finished = person.post_form(setup, {"workspace": "acme-demo"})
    assert "data-popup-finished" in finished.text
    assert "Back to your integrations" not in finished.text and "portal" not in finished.url
    reported = widget_client.get("/connect/widget/events").json()["events"]
    assert [(e["type"], e["connectionId"], e["provider"]) for e in reported] == [
        ("connected", started["connectionId"], "patchbay-sandbox")
    ]
    assert widget_client.get("/connect/widget/events").json()["events"] == reported  # same key: reported once
    assert Connection.objects.get(pk=started["connectionId"]).lifecycle.is_healthy


def test_denied_consent_reports_an_error_and_the_popup_closes_itself(widget_client, person):
    started = widget_client.post("/connect/widget/add/patchbay-sandbox").json()
    authorize_url = follow_popup(person, started["popupUrl"])
    page = person.http.get(person.consent(authorize_url, approve=False), timeout=10)
    assert page.status_code == 400
    assert "data-popup-finished" in page.text and "Access was not approved" in page.text
    reported = widget_client.get("/connect/widget/events").json()["events"]
    assert [(e["type"], e["code"]) for e in reported] == [("error", "consent_denied")]


def test_the_error_page_of_the_popup_wears_the_applications_brand(widget_client, sandbox_app, person):
    sandbox_app.brand_color = "#0A7B5C"
    sandbox_app.save()
    started = widget_client.post("/connect/widget/add/patchbay-sandbox").json()
    page = person.http.get(person.consent(follow_popup(person, started["popupUrl"]), approve=False), timeout=10)
    assert "data-popup-finished" in page.text and "Access was not approved" in page.text
    assert f'<span class="brand-name">{sandbox_app.name}</span>' in page.text
    assert '<span class="brand-name">Patchbay</span>' not in page.text
    assert f"--brand: {sandbox_app.brand_color}" in page.text

    void_link = person.http.get(person.url(started["popupUrl"][:-3] + "abc"), timeout=10)
    assert "data-popup-finished" in void_link.text  # no application is known: Patchbay's own brand
    assert '<span class="brand-name">Patchbay</span>' in void_link.text


def test_api_key_provider_reports_one_connected(widget_client, person):
    started = widget_client.post("/connect/widget/add/patchbay-sandbox-keys").json()
    form = follow_popup(person, started["popupUrl"])
    assert 'type="password"' in form.text
    wrong = person.post_form(form, {"api_key": "nope"})
    assert wrong.status_code == 422
    assert widget_client.get("/connect/widget/events").json()["events"] == []
    finished = person.post_form(wrong, {"api_key": "sk_sandbox_demo"})
    assert "data-popup-finished" in finished.text
    assert [e["type"] for e in widget_client.get("/connect/widget/events").json()["events"]] == ["connected"]


def test_reconnect_reports_a_second_connected(widget_client, person):
    started = widget_client.post("/connect/widget/add/patchbay-sandbox").json()
    setup = person.http.get(person.consent(follow_popup(person, started["popupUrl"])), timeout=10)
    person.post_form(setup, {"workspace": "acme-demo"})
    [first] = widget_client.get("/connect/widget/events").json()["events"]

    again = widget_client.post(f"/connect/widget/c/{started['connectionId']}/reconnect").json()
    finished = person.http.get(person.consent(follow_popup(person, again["popupUrl"])), timeout=10)
    assert "data-popup-finished" in finished.text  # settings were kept: reconnecting completes at once
    [second] = widget_client.get("/connect/widget/events").json()["events"]
    assert second["type"] == "connected" and second["connectionId"] == first["connectionId"]
    assert second["key"] != first["key"]  # a new completion: the widget reports it again


def test_popup_links_are_signed_and_short_lived(widget_client, person):
    started = widget_client.post("/connect/widget/add/patchbay-sandbox").json()
    forged = person.http.get(person.url(started["popupUrl"][:-3] + "abc"), timeout=10)
    assert forged.status_code == 410
    assert "has expired" in forged.text

    issued_long_ago = time.time() - POPUP_LINK_MAX_AGE - 5
    with mock.patch("django.core.signing.time.time", return_value=issued_long_ago):
        old = widget_client.post(f"/connect/widget/c/{started['connectionId']}/connect").json()
    expired = person.http.get(person.url(old["popupUrl"]), allow_redirects=False, timeout=10)
    assert expired.status_code == 410


def test_polling_costs_a_fixed_number_of_queries(widget_client, django_assert_max_num_queries, person):
    for provider in ("patchbay-sandbox-keys", "patchbay-sandbox-keys", "patchbay-sandbox-keys"):
        started = widget_client.post(f"/connect/widget/add/{provider}").json()
        person.post_form(follow_popup(person, started["popupUrl"]), {"api_key": "sk_sandbox_demo"})
    with django_assert_max_num_queries(3):
        assert len(widget_client.get("/connect/widget/events").json()["events"]) == 3
