"""10,000 expiring connections: how long the refresh sweep takes versus the token endpoint alone.

Run: .venv/bin/python bench/refresh_sweep.py [--connections 10000] [--workers 16] [--latency-ms 5]

A local token endpoint answers every request after a fixed latency. The baseline is that endpoint hit
directly by the same number of concurrent workers, with nothing else; "ours" is Patchbay's refresh
service (row lock, decrypt, token call, encrypt, save) for every expiring connection, each one enqueued
TWICE (two overlapping sweeps), so double refreshes would show up as extra token requests.
"""

import argparse
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import bench_tenant, django_on_bench_database


class TokenEndpoint:
    def __init__(self, latency: float):
        self.count = 0
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms to every keep-alive response

            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with endpoint.lock:
                    endpoint.count += 1
                    n = endpoint.count
                time.sleep(latency)
                body = json.dumps(
                    {"access_token": f"at-{n}", "refresh_token": f"rt-{n}", "token_type": "bearer", "expires_in": 3600}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        ThreadingHTTPServer.daemon_threads = True
        ThreadingHTTPServer.request_queue_size = 256
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=5.0)
    args = parser.parse_args()
    django_on_bench_database("patchbay_bench_refresh")

    import requests
    from django.utils import timezone

    from apps.connections.models import Connection
    from apps.connections.selectors import connection_ids_needing_refresh
    from apps.connections.services import connection_refresh_credentials

    endpoint = TokenEndpoint(args.latency_ms / 1000)
    provider, application, config, customer = bench_tenant(provider_name="bench-oauth", base_url=endpoint.url)
    expired = timezone.now() - timedelta(minutes=1)
    print(f"Creating {args.connections} expiring connections…", flush=True)
    rows = []
    for i in range(args.connections):
        row = Connection(
            application=application,
            customer=customer,
            provider=provider,
            connector_config=config,
            is_authentication_pending=False,
            status="healthy",
            credentials_expires_at=expired,
        )
        row.credentials = {"access_token": f"old-{i}", "refresh_token": f"old-rt-{i}"}
        rows.append(row)
    Connection.objects.bulk_create(rows, batch_size=1000)

    local = threading.local()

    def direct_call(_):
        if not hasattr(local, "session"):
            local.session = requests.Session()
        local.session.post(
            f"{endpoint.url}/token", data={"grant_type": "refresh_token", "refresh_token": "x"}, timeout=30
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(args.workers) as pool:
        list(pool.map(direct_call, range(args.connections)))
    baseline = time.perf_counter() - started
    endpoint.count = 0

    ids = list(connection_ids_needing_refresh(horizon=timezone.now() + timedelta(minutes=10)))
    work = ids + ids  # two overlapping sweeps enqueue every connection twice

    def refresh(connection_id):
        connection_refresh_credentials(connection_id=connection_id)

    started = time.perf_counter()
    with ThreadPoolExecutor(args.workers) as pool:
        list(pool.map(refresh, work))
    ours = time.perf_counter() - started
    remaining = Connection.objects.filter(credentials_expires_at__lte=timezone.now()).count()

    print(f"connections expiring         {len(ids)}")
    print(f"refresh jobs run (2 sweeps)  {len(work)}")
    print(f"token requests made          {endpoint.count}  (double refreshes: {endpoint.count - len(ids)})")
    print(f"still expired afterwards     {remaining}")
    rate = args.connections / baseline
    print(f"token endpoint alone         {baseline:8.2f} s  ({rate:7.0f} req/s, {args.workers} workers)")
    print(f"Patchbay refresh sweep       {ours:8.2f} s  ({len(ids) / ours:7.0f} conn/s, {args.workers} workers)")
    print(f"ratio sweep / endpoint       {ours / baseline:8.2f}x")


if __name__ == "__main__":
    main()
