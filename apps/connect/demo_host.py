"""A stand-in for an application's own product page, served on another site than Patchbay, that embeds the
connect widget with connect.js and logs its events (started by `make run`, see `manage.py demo_host`).

Its "backend" (`POST /session`) mints a connect session for one customer, as an application's server would
with `POST /api/v1/connect-sessions`; the page passes the token to `Patchbay.connect`.
"""

import json
import logging
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connections as db_connections

from apps.connect.services import connect_session_create
from apps.core.errors import ValidationFailed
from apps.tenants.models import Application
from apps.tenants.selectors import customer_get

logger = logging.getLogger(__name__)

# Patchbay on 127.0.0.1 → the demo page on localhost, and back: two different sites on one machine.
OTHER_SITE = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{app} · Integrations (widget demo)</title>
<style>
  body {{ font-family: system-ui, sans-serif; margin: 0; background: #f1f5f9; color: #0f172a; }}
  main {{ max-width: 760px; margin: 0 auto; padding: 24px 16px; }}
  .note {{ color: #475569; }}
  button {{ font: inherit; font-weight: 600; padding: 10px 16px; border-radius: 10px; border: 1px solid #cbd5e1;
           background: #fff; cursor: pointer; margin: 0 8px 8px 0; }}
  button.primary {{ background: #0f172a; color: #fff; border-color: #0f172a; }}
  button:focus-visible {{ outline: 3px solid #6366f1; outline-offset: 2px; }}
  #inline iframe {{ border: 1px solid #cbd5e1 !important; border-radius: 12px; background: #fff; }}
  #events {{ font-family: ui-monospace, monospace; font-size: 13px; padding-left: 20px; }}
</style>
</head>
<body>
<main>
  <h1>{app} — your integrations</h1>
  <p class="note">This page stands for {app}'s own product, on <code>{origin}</code>: another site than
  Patchbay (<code>{patchbay}</code>). Its backend creates a connect session for the customer
  <code>{customer}</code>; the page opens Patchbay's widget with <code>connect.js</code> and logs every event.</p>
  <button type="button" class="primary" id="open-modal">Connect your tools</button>
  <button type="button" id="open-inline">Show the widget inline</button>
  <div id="inline"></div>
  <h2>Events</h2>
  <ol id="events" aria-live="polite"></ol>
</main>
<script src="{patchbay}/static/patchbay/v1/connect.js"></script>
<script src="/demo.js"></script>
</body>
</html>
"""

SCRIPT = """(function () {
  "use strict";
  var log = document.getElementById("events");
  function record(event) {
    var item = document.createElement("li");
    item.textContent = new Date().toLocaleTimeString() + "  " + JSON.stringify(event);
    log.insertBefore(item, log.firstChild);
  }
  function open(container) {
    // A connect-session token is single use: the backend makes a fresh one for every widget.
    fetch("/session", { method: "POST" })
      .then(function (response) { return response.json(); })
      .then(function (body) {
        if (!body.token) { record({ type: "demo-error", message: body.error }); return; }
        if (window.widget) window.widget.close();
        window.widget = Patchbay.connect({ session: body.token, container: container, onEvent: record });
      });
  }
  document.getElementById("open-modal").addEventListener("click", function () { open(null); });
  document.getElementById("open-inline").addEventListener("click", function () { open("#inline"); });
})();
"""


def demo_host_origin(*, base_url: str, port: int) -> str:
    """The demo page's origin: Patchbay's host name swapped for the other loopback name, on `port`."""
    host = urlsplit(base_url).hostname or "127.0.0.1"
    return f"http://{OTHER_SITE.get(host, host)}:{port}"


class DemoHostHandler(BaseHTTPRequestHandler):
    server_version = "PatchbayDemoHost"

    def __init__(self, *args, origin: str, application_slug: str, customer_external_id: str, **kwargs):
        self.origin = origin
        self.application_slug = application_slug
        self.customer_external_id = customer_external_id
        super().__init__(*args, **kwargs)

    def log_message(self, format, *args):
        logger.info("demo host %s", format % args)

    def _send(self, status: int, body: str, content_type: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def _subject(self):
        application = Application.objects.filter(slug=self.application_slug).first()
        customer = customer_get(application=application, external_id=self.customer_external_id) if application else None
        return application, customer

    def handle(self):
        """One browser connection, on a thread of its own (ThreadingHTTPServer): the database connection
        its requests opened is that thread's, closed here, or it would stay open after the thread ends."""
        try:
            super().handle()
        finally:
            db_connections.close_all()

    def do_GET(self):
        path = urlsplit(self.path).path
        if path == "/demo.js":
            return self._send(200, SCRIPT, "text/javascript")
        if path != "/":
            return self._send(404, "Not found", "text/plain")
        application, customer = self._subject()
        if customer is None:
            return self._send(503, "Run `manage.py bootstrap_demo` first (make run does).", "text/plain")
        page = PAGE.format(
            app=application.name, origin=self.origin, patchbay=settings.PATCHBAY_BASE_URL, customer=customer
        )
        return self._send(200, page, "text/html")

    def do_POST(self):
        if urlsplit(self.path).path != "/session":
            return self._send(404, "Not found", "text/plain")
        application, customer = self._subject()
        if customer is None:
            return self._send(503, json.dumps({"error": "Run `manage.py bootstrap_demo` first."}), "application/json")
        try:
            _session, token = connect_session_create(
                application=application, customer=customer, allowed_origin=self.origin, actor="system:demo_host"
            )
        except ValidationFailed as exc:
            return self._send(exc.status, json.dumps({"error": exc.message}), "application/json")
        return self._send(200, json.dumps({"token": token}), "application/json")


def demo_host_server(*, bind: str, port: int, origin: str, application_slug: str, customer_external_id: str):
    handler = partial(
        DemoHostHandler, origin=origin, application_slug=application_slug, customer_external_id=customer_external_id
    )
    return ThreadingHTTPServer((bind, port), handler)
