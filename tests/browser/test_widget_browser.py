"""The embedded widget in a real Chromium, across two sites, with third-party cookies blocked.

The application's page is on site A (`http://localhost:<port>`), Patchbay on site B
(`http://127.0.0.1:<port>`): different sites, so the iframe is a true third-party context and gets no
cookies. Patchbay sends the headers it really sends (COOP included). The host page loads connect.js from
Patchbay and logs every event it gets.
"""

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest
from playwright.sync_api import expect

from apps.catalog.services import catalog_sync
from apps.connect.exceptions import ConnectionNotFound, ConnectSessionUsed
from apps.connect.models import ConnectSession
from apps.connect.services import connect_session_create
from apps.connections.exceptions import ProviderRejectedCode
from apps.connections.models import Connection
from apps.sandbox.services import sandbox_connector_config_ensure
from tests.browser.conftest import screenshot_directory
from tests.connections.conftest import make_provider
from tests.factories import ApplicationFactory, ConnectionFactory, ConnectorConfigFactory, CustomerFactory, provider_for
from tests.live_server import LiveServer
from tests.provider_server import LocalHTTPServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EVENT_DEADLINE_MS = 2000

HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acme · Settings</title></head>
<body style="font-family: sans-serif; margin: 16px">
<h1>Acme settings</h1>
<button id="open" type="button">Connect your tools</button>
<ol id="log"></ol>
<script src="{patchbay}/static/patchbay/v1/connect.js"></script>
<script>
  window.events = [];
  window.rawMessages = [];
  window.addEventListener("message", function (e) {{ window.rawMessages.push({{origin: e.origin, data: e.data}}); }});
  document.getElementById("open").addEventListener("click", function () {{
    window.widget = Patchbay.connect({{
      session: {token},
      loadTimeoutMs: 6000,
      onEvent: function (e) {{
        window.events.push(Object.assign({{at: Date.now()}}, e));
        var li = document.createElement("li");
        li.textContent = e.type + (e.provider ? " · " + e.provider : "") + (e.code ? " · " + e.code : "");
        document.getElementById("log").appendChild(li);
      }}
    }});
  }});
</script>
</body></html>"""

FORGER_PAGE = """<!doctype html><html><body><script>
  var forged = {{source: "patchbay-widget", event: {{type: "connected", connectionId: "conn_forged", provider: "x"}}}};
  parent.postMessage(forged, "*");
</script></body></html>"""


class Site:
    """A tiny web server on localhost (another site than 127.0.0.1) that serves the pages we give it."""

    def __init__(self):
        pages = self.pages = {}

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                body = pages.get(self.path.split("?")[0], "").encode()
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = LocalHTTPServer(("localhost", 0), Handler)
        self.origin = f"http://localhost:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def patchbay(transactional_db, settings):
    """Patchbay on http://127.0.0.1:<port>: site B."""
    server = LiveServer("127.0.0.1:0")
    settings.PATCHBAY_BASE_URL = server.url
    settings.ALLOWED_HOSTS = ["*"]
    catalog_sync()
    yield server
    server.stop()


@pytest.fixture
def host():
    site = Site()
    yield site
    site.stop()


@pytest.fixture
def acme(patchbay, host):
    application = ApplicationFactory(name="Acme", allowed_origins=[host.origin])
    sandbox_connector_config_ensure(application=application)
    return application


@pytest.fixture
def customer(acme):
    return CustomerFactory(application=acme, external_id="acme-customer-1")


@pytest.fixture
def browsing(cookie_blocking_context):
    """The browser, with every URL it requests (pages, frames, popups) and every Referer it sends recorded."""
    seen: list[str] = []

    def record(request):
        seen.append(request.url)
        seen.append(request.headers.get("referer", ""))

    cookie_blocking_context.on("request", record)
    cookie_blocking_context.seen_urls = seen
    return cookie_blocking_context


@pytest.fixture
def shot(tmp_path):
    directory = screenshot_directory(tmp_path)

    def take(name, target):
        target.screenshot(path=str(directory / f"widget-{name}.png"), full_page=True)

    return take


def serve_host_page(host, patchbay, token, path="/settings"):
    host.pages[path] = HOST_PAGE.format(patchbay=patchbay.url, token=json.dumps(token))
    return host.origin + path


def open_widget(context, url):
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(url)
    page.get_by_role("button", name="Connect your tools").click()
    page.wait_for_function("window.events.some(e => e.type === 'ready')")
    return page, page.frame_locator("iframe")


def host_events(page):
    return page.evaluate("window.events")


def wait_for_event(page, event_type, count=1, timeout=20000):
    page.wait_for_function(
        "([type, count]) => window.events.filter(e => e.type === type).length >= count",
        arg=[event_type, count],
        timeout=timeout,
    )
    return [e for e in host_events(page) if e["type"] == event_type]


def assert_token_never_in_a_url(context, token):
    assert context.seen_urls, "no request was recorded"
    leaks = [url for url in context.seen_urls if token in url]
    assert leaks == []


def start_sandbox_sign_in(context, frame, provider="patchbay-sandbox"):
    frame.get_by_placeholder("Search services…").fill("sandbox")
    expect(frame.locator("#widget-providers .provider-card")).to_have_count(2)  # htmx swapped in the matches
    return popup_from(context, frame.locator(f'#widget-providers [data-provider="{provider}"]'))


def popup_from(context, button):
    with context.expect_page() as popup_info:
        button.click()
    popup = popup_info.value
    popup.wait_for_load_state()
    return popup


def sign_in_to_sandbox(popup, name="Katherine Johnson"):
    popup.get_by_label("Your name").fill(name)
    popup.get_by_role("button", name="Sign in").click()
    expect(popup.get_by_role("heading", name="Allow")).to_be_visible()


def test_oauth_then_twenty_seconds_on_the_settings_gives_exactly_one_connected_with_cookies_blocked(
    patchbay, host, acme, customer, browsing, shot, caplog
):
    """Cases 1 and 5: every test here runs with third-party cookies blocked by the profile preferences."""
    caplog.set_level(logging.DEBUG)
    _session, token = connect_session_create(application=acme, customer=customer, allowed_origin=host.origin)
    page, frame = open_widget(browsing, serve_host_page(host, patchbay, token))
    widget_frame = page.locator("iframe").element_handle().content_frame()
    assert widget_frame.evaluate("document.hasStorageAccess()") is False  # no cookies for the third-party frame
    expect(frame.get_by_text("No connections yet.")).to_be_visible()
    shot("01-host-modal-360", page)

    popup = start_sandbox_sign_in(browsing, frame)
    sign_in_to_sandbox(popup)
    popup.get_by_role("button", name="Approve").click()
    expect(popup.get_by_role("heading", name="Finish setting up")).to_be_visible()
    expect(frame.get_by_text("Finish signing in in the window that opened")).to_be_visible()
    shot("02-popup-settings-360", popup)

    time.sleep(20)  # the customer takes their time on the settings form
    assert [e["type"] for e in host_events(page)] == ["ready"]
    popup.get_by_label("Workspace").select_option("katherine-johnson-demo")
    popup.get_by_role("button", name="Save settings").click()

    [connected] = wait_for_event(page, "connected")
    connection = Connection.objects.get(customer=customer)
    latency_ms = connected["at"] - connection.connected_at.timestamp() * 1000
    assert latency_ms < EVENT_DEADLINE_MS, f"connected arrived {latency_ms:.0f} ms after completion"
    assert connected["connectionId"] == connection.pk
    assert connected["provider"] == "patchbay-sandbox"
    assert connection.lifecycle.is_healthy and connection.settings["workspace"] == "katherine-johnson-demo"

    popup.wait_for_event("close", timeout=10000)  # the finish page closes the window by itself
    expect(frame.locator('[data-badge="healthy"]')).to_be_visible()
    shot("03-widget-connected-360", page)
    page.wait_for_timeout(3500)  # a few more polls: still exactly one
    assert [e["type"] for e in host_events(page)] == ["ready", "connected"]
    assert_token_never_in_a_url(browsing, token)
    assert token not in caplog.text


def test_api_key_provider_gives_one_connected(patchbay, host, acme, customer, browsing, shot):
    _session, token = connect_session_create(application=acme, customer=customer, allowed_origin=host.origin)
    page, frame = open_widget(browsing, serve_host_page(host, patchbay, token))

    # By keyboard only: search, Tab to the second match (its focus ring shows), Enter opens the sign-in window.
    frame.get_by_placeholder("Search services…").fill("sandbox")
    expect(frame.locator("#widget-providers .provider-card")).to_have_count(2)
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(frame.locator('#widget-providers [data-provider="patchbay-sandbox-keys"]')).to_be_focused()
    shot("04a-keyboard-focus-360", page)
    with browsing.expect_page() as popup_info:
        page.keyboard.press("Enter")
    popup = popup_info.value
    popup.get_by_label("API key").fill("not-a-sandbox-key")
    popup.get_by_role("button", name="Verify and connect").click()
    expect(popup.get_by_role("alert")).to_be_visible()
    shot("04-popup-api-key-error-360", popup)
    popup.get_by_label("API key").fill("sk_sandbox_demo")
    popup.get_by_role("button", name="Verify and connect").click()
    expect(popup.get_by_role("heading", name="Connected")).to_be_visible()
    shot("05-popup-finished-360", popup)

    [connected] = wait_for_event(page, "connected")
    assert connected["connectionId"] == Connection.objects.get(customer=customer).pk
    popup.wait_for_event("close", timeout=10000)
    page.wait_for_timeout(2000)
    assert [e["type"] for e in host_events(page)] == ["ready", "connected"]


def test_closing_the_popup_mid_consent_gives_closed_fast_and_the_widget_works_again(
    patchbay, host, acme, customer, browsing, shot
):
    _session, token = connect_session_create(application=acme, customer=customer, allowed_origin=host.origin)
    page, frame = open_widget(browsing, serve_host_page(host, patchbay, token))

    popup = start_sandbox_sign_in(browsing, frame)
    sign_in_to_sandbox(popup)
    closed_at_ms = time.time() * 1000
    popup.close()

    [closed] = wait_for_event(page, "closed")
    assert closed["at"] - closed_at_ms < EVENT_DEADLINE_MS
    assert closed["reason"] == "popup_closed" and closed["provider"] == "patchbay-sandbox"
    expect(frame.locator("#widget-flow")).to_be_hidden()
    expect(frame.locator('[data-badge="pending"]')).to_be_visible()
    shot("06-widget-after-popup-closed-360", page)

    again = popup_from(browsing, frame.get_by_role("button", name="Complete setup"))
    expect(again.get_by_role("heading", name="Allow")).to_be_visible()  # still signed in to the sandbox
    again.get_by_role("button", name="Approve").click()
    again.get_by_label("Workspace").select_option("katherine-johnson-demo")
    again.get_by_role("button", name="Save settings").click()
    wait_for_event(page, "connected")
    assert [e["type"] for e in host_events(page)] == ["ready", "closed", "connected"]


def test_denied_consent_gives_error(patchbay, host, acme, customer, browsing, shot):
    _session, token = connect_session_create(application=acme, customer=customer, allowed_origin=host.origin)
    page, frame = open_widget(browsing, serve_host_page(host, patchbay, token))

    popup = start_sandbox_sign_in(browsing, frame)
    sign_in_to_sandbox(popup)
    popup.get_by_role("button", name="Cancel").click()
    expect(popup.get_by_role("heading", name="Access was not approved")).to_be_visible()
    shot("07-popup-denied-360", popup)

    [error] = wait_for_event(page, "error")
    assert error["code"] == "consent_denied" and error["provider"] == "patchbay-sandbox"
    popup.wait_for_event("close", timeout=10000)
    page.wait_for_timeout(1500)
    assert [e["type"] for e in host_events(page)] == ["ready", "error"]
    expect(frame.locator("#widget-flow")).to_be_hidden()


def test_a_refused_session_token_shows_the_error_and_what_to_do(patchbay, host, acme, customer, browsing, shot):
    """The host page handed over a token already used (the page was reloaded): the widget tells the host, and
    shows the person the error's message and, under it, its resolution, as the error page does."""
    _session, token = connect_session_create(application=acme, customer=customer, allowed_origin=host.origin)
    url = serve_host_page(host, patchbay, token)
    open_widget(browsing, url)
    page = browsing.new_page()
    page.goto(url)
    page.get_by_role("button", name="Connect your tools").click()

    [error] = wait_for_event(page, "error")
    assert error["code"] == ConnectSessionUsed.code
    alert = page.frame_locator("iframe").get_by_role("alert")
    expect(alert).to_contain_text(ConnectSessionUsed.message)
    resolution = alert.locator("[data-resolution]")
    expect(resolution).to_have_text(f"What to do: {ConnectSessionUsed.resolution}")
    shot("08-session-used-360", page)


def test_a_refused_sign_in_shows_the_error_and_what_to_do(patchbay, host, acme, customer, browsing):
    """The application deleted a connection while the widget listed it: starting its sign-in is refused, and
    the status line shows the message with the resolution under it."""
    connection = ConnectionFactory(application=acme, customer=customer, provider=provider_for("patchbay-sandbox"))
    _session, token = connect_session_create(application=acme, customer=customer, allowed_origin=host.origin)
    _page, frame = open_widget(browsing, serve_host_page(host, patchbay, token))
    complete = frame.locator(f'[data-connection-id="{connection.pk}"] [data-widget-popup]')
    expect(complete).to_be_visible()
    Connection.objects.filter(pk=connection.pk).delete()

    complete.click()
    panel = frame.locator("#widget-flow")
    expect(panel.locator("[data-flow-text]")).to_have_text(ConnectionNotFound.message)
    expect(panel.locator("[data-resolution]")).to_have_text(f"What to do: {ConnectionNotFound.resolution}")


# Markup that runs if it is ever parsed as HTML: the image fails to load and its handler sets a global.
HOSTILE = '<img src=x onerror="window.pbInjected=1"><script>window.pbInjected=2</script>'


def test_markup_in_a_providers_refusal_is_shown_as_text_and_never_runs(
    patchbay, host, acme, customer, browsing, fake_provider
):
    """A client-credentials provider (its catalog entry's display name carries markup too) refuses the
    token request with markup as its error code: Patchbay puts the code in the refusal's message, and the
    widget's status line shows it, with the resolution under it, as text. No element is made from it and
    no script of it runs."""
    provider = make_provider(
        "hostile-crm", fake_provider.url, auth_type="oauth2_client_credentials", display_name=f"Hostile {HOSTILE}"
    )
    ConnectorConfigFactory(application=acme, provider=provider)
    fake_provider.on("POST", "/token", status=400, body={"error": HOSTILE})
    _session, token = connect_session_create(
        application=acme, customer=customer, allowed_origin=host.origin, allowed_providers=["hostile-crm"]
    )
    page, frame = open_widget(browsing, serve_host_page(host, patchbay, token))
    card = frame.locator('#widget-providers [data-provider="hostile-crm"]')
    expect(card).to_contain_text(f"Hostile {HOSTILE}")

    card.click()
    panel = frame.locator("#widget-flow")
    expect(panel.locator("[data-flow-text]")).to_have_text(
        f"The provider refused the authorization ({HOSTILE}). Start the connection again."
    )
    expect(panel.locator("[data-resolution]")).to_have_text(f"What to do: {ProviderRejectedCode.resolution}")
    assert len(fake_provider.calls("/token")) == 1
    expect(frame.locator('img[src="x"], #pb-widget script')).to_have_count(0)
    [widget] = [f for f in page.frames if "/connect/widget/" in f.url]
    # An image that failed to load has fired its onerror by the next frames; give it a moment more.
    assert widget.evaluate("new Promise(done => setTimeout(() => done(window.pbInjected), 300))") is None


def test_an_unlisted_origin_cannot_frame_the_widget(patchbay, acme, customer, browsing):
    stranger = Site()  # another localhost port: an origin the application does not list
    try:
        _session, token = connect_session_create(application=acme, customer=customer)
        widget_responses = []
        browsing.on("response", lambda r: widget_responses.append(r) if "/connect/widget/" in r.url else None)
        page = browsing.new_page()
        page.goto(serve_host_page(stranger, patchbay, token))
        page.get_by_role("button", name="Connect your tools").click()

        [error] = wait_for_event(page, "error")
        assert error["code"] == "widget_unavailable"
        assert widget_responses[0].headers["content-security-policy"] == "frame-ancestors 'none'"
        frame = page.frame_locator("iframe")
        expect(frame.locator("#pb-widget")).to_have_count(0)  # the browser refused to render it
        assert ConnectSession.objects.get(pk=_session.pk).used_at is None  # the token was never handed over
    finally:
        stranger.stop()


def test_connect_js_ignores_messages_from_any_other_origin_or_window(patchbay, host, acme, customer, browsing):
    forger = Site()
    try:
        forger.pages["/forge"] = FORGER_PAGE.format()
        _session, token = connect_session_create(application=acme, customer=customer, allowed_origin=host.origin)
        page, _frame = open_widget(browsing, serve_host_page(host, patchbay, token))
        page.evaluate(
            """(src) => {
                const frame = document.createElement("iframe");
                frame.src = src;
                document.body.appendChild(frame);
                const forged = {type: "connected", connectionId: "conn_self"};
                window.postMessage({source: "patchbay-widget", event: forged}, "*");
            }""",
            forger.origin + "/forge",
        )
        page.wait_for_function(
            "window.rawMessages.filter(m => m.data && m.data.event && m.data.event.type === 'connected').length >= 2"
        )
        page.wait_for_timeout(500)
        assert [e["type"] for e in host_events(page)] == ["ready"]
    finally:
        forger.stop()


def test_the_session_token_is_in_no_url_and_no_log(patchbay, host, acme, customer, browsing, caplog):
    caplog.set_level(logging.DEBUG)
    _session, token = connect_session_create(application=acme, customer=customer, allowed_origin=host.origin)
    page, frame = open_widget(browsing, serve_host_page(host, patchbay, token))
    popup = start_sandbox_sign_in(browsing, frame, provider="patchbay-sandbox-keys")
    popup.get_by_label("API key").fill("sk_sandbox_demo")
    popup.get_by_role("button", name="Verify and connect").click()
    wait_for_event(page, "connected")

    urls = {page.url, *(f.url for p in browsing.pages for f in p.frames)}
    assert all(token not in url for url in urls)
    assert_token_never_in_a_url(browsing, token)
    assert token not in caplog.text
