"""The portal embedded in an application's page: framed by its allowed origin, postMessage on completion."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from apps.connect.services import connect_session_create, connect_session_url

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOST_PAGE = """<!doctype html><html><body>
<h1>Acme settings</h1>
<iframe id="patchbay" src="{src}" width="1000" height="700"></iframe>
<script>
  window.received = [];
  window.addEventListener("message", function (event) {{
    if (event.origin === "{patchbay_origin}") window.received.push(event.data);
  }});
</script>
</body></html>"""


@pytest.fixture
def host_page():
    """An application's own page on another origin (same site, other port), serving whatever HTML we set."""
    state = {"html": ""}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            body = state["html"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("localhost", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["origin"] = f"http://localhost:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def test_framed_portal_connects_in_a_popup_and_notifies_only_the_allowed_origin(
    live, sandbox_app, sandbox_customer, host_page, page, screenshot
):
    sandbox_app.allowed_origins = [host_page["origin"]]
    sandbox_app.save()
    _session, token = connect_session_create(
        application=sandbox_app, customer=sandbox_customer, allowed_origin=host_page["origin"]
    )
    host_page["html"] = HOST_PAGE.format(src=connect_session_url(token), patchbay_origin=live.url)

    page.goto(host_page["origin"] + "/settings")
    frame = page.frame_locator("#patchbay")
    expect(frame.get_by_role("heading", name="Integrations")).to_be_visible()
    screenshot("08-widget-framed")

    with page.context.expect_page() as popup_info:
        frame.locator('[data-provider="patchbay-sandbox"]').click()
    popup = popup_info.value
    popup.get_by_label("Your name").fill("Katherine Johnson")
    popup.get_by_role("button", name="Sign in").click()
    popup.get_by_role("button", name="Approve").click()
    popup.get_by_label("Workspace").select_option("katherine-johnson-demo")
    popup.get_by_role("button", name="Save settings").click()
    expect(popup.get_by_role("heading", name="Connected")).to_be_visible()

    page.wait_for_function("window.received.length > 0")
    received = page.evaluate("window.received")
    assert received[0]["type"] == "patchbay:connection.connected"
    assert received[0]["provider"] == "patchbay-sandbox"
    # The framed portal picks up the new connection by itself (htmx polling while pending).
    expect(frame.locator('[data-badge="healthy"]')).to_be_visible(timeout=10000)
