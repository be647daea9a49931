"""10,000 expiring connections refreshed through the real path: Celery beat → Redis → Celery worker →
token endpoint → database, against what the token endpoint itself allows.

    REDIS_URL=redis://127.0.0.1:6379/8 python bench/refresh_sweep.py [--connections 10000] [--latency-ms 5]

Runs on its own throwaway PostgreSQL database (or DATABASE_URL). Starts the worker and beat with the
argv `make run` uses (manage.py runall's), Redis as broker; the beat schedule's refresh sweep finds the
due connections (it first fires one interval after beat starts, so the clock starts at the first token
request, not at beat start). A local token endpoint answers every refresh after a fixed latency and
rotates refresh tokens; it counts requests per presented refresh token, so a double refresh shows up.
Prints:
- the endpoint's own limit: requests / concurrency * latency, where concurrency is the requests the
  sweep keeps in flight (worker processes x REFRESH_BATCH_CONCURRENCY);
- a client measured in its own process: the same number of requests from that many threads over
  keep-alive sessions, nothing else;
- the sweep: wall time from first to last token request, connections/s, worker CPU per connection,
  double refreshes and connections left unrefreshed.
With --kill-during-sweep [--reuse-seconds 60] the provider rotates refresh tokens and accepts a used one
again only for --reuse-seconds; the worker's pool processes are killed (SIGKILL) once half the
connections have had their token request, so some answers are given and never saved. Prints the
connections lost (must be 0 with a reuse grace) and the resends of interrupted refreshes.
Not part of pytest.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import bench_tenant, django_on_bench_database  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class TokenEndpoint:
    """Answers each refresh after `latency` with a new access and refresh token; counts presented tokens."""

    def __init__(self, latency: float, reuse_seconds: float = float("inf")):
        self.presented: Counter = Counter()
        self.first_used_at: dict[str, float] = {}
        self.reuse_seconds = reuse_seconds
        self.first_at = self.last_at = None
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms to every keep-alive response

            def log_message(self, *args):
                pass

            def do_POST(self):
                form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
                presented = form.get("refresh_token", [""])[0]
                with endpoint.lock:
                    endpoint.presented[presented] += 1
                    now = time.perf_counter()
                    endpoint.first_at = endpoint.first_at or now
                    endpoint.last_at = now
                    first_use = endpoint.first_used_at.setdefault(presented, now)
                time.sleep(latency)
                if now - first_use > endpoint.reuse_seconds:  # a rotated refresh token past its grace
                    body = json.dumps({"error": "invalid_grant"}).encode()
                    self.send_response(400)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                body = json.dumps(
                    {
                        "access_token": f"at-{presented}",
                        "refresh_token": f"next-{presented}",
                        "token_type": "bearer",
                        "expires_in": 3600,
                    }
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its reaped children (the prefork pool's are live: add them)."""
    total = 0.0
    pids = [pid] + [
        int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    ]
    for each in pids:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += sum(int(value) for value in fields[11:15]) / CLOCK_TICKS
    return total


def rss_mb(pid: int) -> float:
    pids = [pid] + [
        int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    ]
    total = 0
    for each in pids:
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def client_alone(url: str, *, requests_count: int, concurrency: int) -> float:
    """Seconds for `requests_count` token requests from `concurrency` threads, nothing else."""
    import requests

    local = threading.local()

    def call(n: int) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        local.session.post(f"{url}/token", data={"grant_type": "refresh_token", "refresh_token": f"c-{n}"}, timeout=30)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(call, range(requests_count)))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=5.0)
    parser.add_argument("--worker-concurrency", type=int, default=2, help="as make run starts the worker")
    parser.add_argument("--timeout", type=int, default=1800, help="give up after this many seconds")
    parser.add_argument("--kill-during-sweep", action="store_true", help="SIGKILL the pool halfway")
    parser.add_argument("--reuse-seconds", type=int, default=60, help="the provider's refresh-token reuse grace")
    args = parser.parse_args()
    if args.kill_during_sweep:
        os.environ["PATCHBAY_PROVIDER_TIMEOUT_SECONDS"] = "1"  # leases of killed refreshes end after 7 s
    if not os.environ.get("REDIS_URL"):
        print("skipped: set REDIS_URL (redis://…/<db>) for the worker's broker")
        return
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["CELERY_BROKER_URL"] = os.environ["REDIS_URL"]
    os.environ["DEBUG"] = "false"
    django_on_bench_database("patchbay_bench_sweep")

    from django.conf import settings
    from django.utils import timezone

    from apps.connections.models import Connection
    from apps.connections.services import REFRESH_BATCH_CONCURRENCY
    from apps.ops.management.commands.runall import build_children

    latency = args.latency_ms / 1000
    endpoint = TokenEndpoint(latency, reuse_seconds=args.reuse_seconds if args.kill_during_sweep else float("inf"))
    provider, application, config, customer = bench_tenant(provider_name="bench-oauth", base_url=endpoint.url)
    provider.definition["oauth"]["token_quirks"] = {
        "refresh_token_rotates": True,
        "refresh_token_reuse_seconds": args.reuse_seconds,
    }
    provider.save()
    now = timezone.now()
    print(f"creating {args.connections:,} connections whose refresh is due…", flush=True)
    rows = []
    for n in range(args.connections):
        row = Connection(
            application=application,
            customer=customer,
            provider=provider,
            connector_config=config,
            is_authentication_pending=False,
            status="healthy",
            credentials_expires_at=now + timedelta(minutes=2),
            refresh_due_at=now - timedelta(seconds=1),
        )
        row.credentials = {"access_token": f"old-{n}", "refresh_token": f"rt-{n}"}
        rows.append(row)
    Connection.objects.bulk_create(rows, batch_size=1000)

    in_flight = args.worker_concurrency * REFRESH_BATCH_CONCURRENCY
    limit = args.connections / in_flight * latency
    alone = client_alone(endpoint.url, requests_count=args.connections, concurrency=in_flight)
    endpoint.presented.clear()
    endpoint.first_used_at.clear()
    endpoint.first_at = endpoint.last_at = None

    children = {
        child.name: child
        for child in build_children(host="127.0.0.1", port=0, web_workers=1, worker_concurrency=args.worker_concurrency)
    }
    worker_argv = children["worker"].argv
    worker_argv[worker_argv.index("-l") + 1] = "warning"
    beat_argv = children["beat"].argv
    beat_argv[beat_argv.index("-l") + 1] = "warning"
    beat_argv[beat_argv.index("-s") + 1] = str(settings.VAR_DIR / f"bench-beat-{os.getpid()}")
    env = {**os.environ}
    subprocess.run(
        [sys.executable, "-m", "celery", "-A", "config", "purge", "-f"], cwd=ROOT, env=env, capture_output=True
    )
    worker = subprocess.Popen(worker_argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(3)
    cpu_before = cpu_seconds(worker.pid)
    beat = subprocess.Popen(beat_argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started_at = time.monotonic()
    try:
        print("waiting for beat's sweep and the worker…", flush=True)
        refreshed = 0
        killed_after = None
        while time.monotonic() - started_at < args.timeout:
            time.sleep(0.2 if args.kill_during_sweep and killed_after is None else 2)
            if args.kill_during_sweep and killed_after is None and len(endpoint.presented) >= args.connections // 2:
                killed_after = len(endpoint.presented)
                for pid in subprocess.run(
                    ["pgrep", "-P", str(worker.pid)], capture_output=True, text=True
                ).stdout.split():
                    os.kill(int(pid), signal.SIGKILL)
            refreshed = Connection.objects.filter(last_refreshed_at__isnull=False).count()
            given_up = Connection.objects.filter(health_status_code="refresh_interrupted").count()
            if refreshed + given_up >= args.connections:
                break
        time.sleep(5)  # let duplicates still queued show up at the endpoint
        cpu = cpu_seconds(worker.pid) - cpu_before
        worker_rss = rss_mb(worker.pid)
    finally:
        for process in (beat, worker):
            process.terminate()
        for process in (beat, worker):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        (settings.VAR_DIR / f"bench-beat-{os.getpid()}").unlink(missing_ok=True)

    sweep = (endpoint.last_at - endpoint.first_at + latency) if endpoint.first_at else float("nan")
    requests_made = sum(endpoint.presented.values())
    # A second refresh of one connection presents the refresh token the first one issued ("next-…"); the
    # same token presented twice is a concurrent double request, or, after the kill, a resend.
    repeats = sum(count - 1 for count in endpoint.presented.values() if count > 1)
    doubles = sum(1 for token in endpoint.presented if token.startswith("next-"))
    if not args.kill_during_sweep:
        doubles += repeats
    lost = args.connections - Connection.objects.filter(last_refreshed_at__isnull=False).count()
    print(
        f"\n{args.connections:,} connections, token endpoint latency {args.latency_ms:g} ms, "
        f"worker --concurrency {args.worker_concurrency} x {REFRESH_BATCH_CONCURRENCY} requests in flight, "
        f"2 cores shared, load {os.getloadavg()[0]:.1f}"
    )
    print(f"endpoint limit (requests / concurrency * latency) {limit:8.2f} s")
    print(f"client alone, own process, {in_flight} threads          {alone:8.2f} s")
    print(
        f"sweep through beat → Redis → worker               {sweep:8.2f} s  "
        f"({args.connections / sweep:.0f} connections/s)"
    )
    print(f"ratio sweep / endpoint limit                      {sweep / limit:8.2f}x (target ≤ 1.5)")
    print(f"ratio sweep / client alone                        {sweep / alone:8.2f}x")
    print(f"worker CPU per connection                         {cpu / args.connections * 1000:8.2f} ms")
    print(f"worker RSS after the sweep (incl. pool)           {worker_rss:8.0f} MB")
    print(f"token requests {requests_made:,}, double refreshes {doubles}, not refreshed {lost}")
    if args.kill_during_sweep:
        print(
            f"pool killed after {killed_after or 0:,} connections' token requests "
            f"(reuse grace {args.reuse_seconds} s): "
            f"resends {repeats}, connections lost {lost}"
        )


if __name__ == "__main__":
    main()
