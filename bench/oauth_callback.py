"""OAuth callback overhead: Patchbay's callback request versus the provider round trips it must make.

Run: REDIS_URL=redis://127.0.0.1:6379/<db> .venv/bin/python bench/oauth_callback.py [--iterations 300]

A local provider answers the token request and the verification request instantly. The baseline is
those two HTTP round trips made directly (urllib3, one keep-alive pool without retries, as the provider
client uses it); "ours" is the whole callback request through Django (state check, attempt claim, code
exchange, vault encryption, verification, health, audit, the `connection.authenticated` webhook's outbox
row and its publish to the Redis broker, redirect) through Django's WSGI handler, as a server would call
it, with the session cookie the connect link set. The application has a webhook URL, so the event is
really queued; no worker runs, and the queued deliveries are purged afterwards. Baseline and ours
alternate, one of each per iteration. Prints p50/p95 of both, the overhead (targets: p50 ≤ 6 ms,
p95 ≤ 10 ms) and the SQL statements of one callback. Without REDIS_URL it prints that it skipped.
"""

import argparse
import io
import json
import os
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import urllib3

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import bench_tenant, django_on_bench_database, percentile


def start_provider() -> str:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms to every keep-alive response

        def log_message(self, *args):
            pass

        def _send(self, payload: dict):
            body = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._send({"access_token": "at", "refresh_token": "rt", "token_type": "bearer", "expires_in": 3600})

        def do_GET(self):
            self._send({"id": "me"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


TARGET_P50_MS = 6
TARGET_P95_MS = 10


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=300)
    args = parser.parse_args()
    if not os.environ.get("REDIS_URL"):
        print("skipped: set REDIS_URL (redis://…/<db>) for the broker the webhook event is published to")
        return
    os.environ["CELERY_BROKER_URL"] = os.environ["REDIS_URL"]
    os.environ["PATCHBAY_TEST_CELERY_EAGER"] = "false"  # publish to the broker, as a server does
    django_on_bench_database("patchbay_bench_callback")

    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection as db_connection
    from django.test.utils import CaptureQueriesContext

    from apps.connect.links import start_path
    from apps.connections.services import connection_create
    from config.celery import app as celery_app

    base = start_provider()
    provider, application, _, customer = bench_tenant(
        provider_name="bench-callback", base_url=base, pkce=True, verification=True
    )
    application.webhook_url = "https://hooks.example.com/patchbay"
    application.save(update_fields=["webhook_url"])
    handler = WSGIHandler()

    def request(path: str, query: str = "", cookie: str = "") -> tuple[str, dict]:
        """One GET through Django's production WSGI handler (no test-client instrumentation)."""
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_COOKIE": cookie,
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(),
            "wsgi.errors": sys.stderr,
        }
        answers = []
        body = b"".join(handler(environ, lambda status, headers, exc_info=None: answers.append((status, headers))))
        status, headers = answers[0]
        if not status.startswith(("200", "302")):
            raise SystemExit(f"{path} failed with {status}: {body[:300]!r}")
        return status, dict(headers)

    # A keep-alive pool without retries, as the provider client keeps one per process.
    http = urllib3.PoolManager(retries=False)

    def provider_round_trips() -> None:
        token = http.request(
            "POST",
            f"{base}/token",
            body=urlencode({"grant_type": "authorization_code", "code": "c"}),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=5,
        )
        json.loads(token.data)
        json.loads(http.request("GET", f"{base}/me", headers={"Authorization": "Bearer at"}, timeout=5).data)

    def callback() -> tuple[str, str]:
        """One connect link opened (as a browser would: the link sets the session and redirects to the
        provider) and, timed by the caller, the provider sending the person back to the callback."""
        connection = connection_create(application=application, customer=customer, provider=provider)
        _, start = request(start_path(connection))
        cookie = start["Set-Cookie"].split(";", 1)[0]
        state = parse_qs(urlsplit(start["Location"]).query)["state"][0]
        return cookie, state

    baseline, ours = [], []
    for _ in range(args.iterations + 20):
        started = time.perf_counter()
        provider_round_trips()
        baseline.append(time.perf_counter() - started)

        cookie, state = callback()
        started = time.perf_counter()
        request("/connect/callback/bench-callback", f"code=c&state={state}", cookie)
        ours.append(time.perf_counter() - started)
    baseline, ours = baseline[20:], ours[20:]  # drop warm-up
    cookie, state = callback()
    with CaptureQueriesContext(db_connection) as ctx:
        request("/connect/callback/bench-callback", f"code=c&state={state}", cookie)
    statements = [q["sql"] for q in ctx.captured_queries]
    celery_app.control.purge()

    base_p50, ours_p50 = statistics.median(baseline), statistics.median(ours)
    print(f"iterations                         {args.iterations}")
    base_p95, ours_p95 = percentile(baseline, 0.95), percentile(ours, 0.95)
    print(f"provider round trips alone  p50    {base_p50 * 1000:7.2f} ms   p95 {base_p95 * 1000:7.2f} ms")
    print(f"Patchbay callback request   p50    {ours_p50 * 1000:7.2f} ms   p95 {ours_p95 * 1000:7.2f} ms")
    overhead_p50, overhead_p95 = (ours_p50 - base_p50) * 1000, (ours_p95 - base_p95) * 1000
    print(f"overhead beyond provider    p50    {overhead_p50:7.2f} ms   (target ≤ {TARGET_P50_MS} ms)")
    print(f"overhead beyond provider    p95    {overhead_p95:7.2f} ms   (target ≤ {TARGET_P95_MS} ms)")
    print(f"ratio callback / provider          {ours_p50 / base_p50:7.2f}x")
    print(f"SQL statements per callback        {len(statements)}")
    for sql in statements:
        print(f"    {sql[:110]}")
    met = overhead_p50 <= TARGET_P50_MS and overhead_p95 <= TARGET_P95_MS
    print(f"load {os.getloadavg()[0]:.1f} (1-min avg): {'OK' if met else 'OVER TARGET'}")


if __name__ == "__main__":
    main()
