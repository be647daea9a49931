"""Benchmark: the list endpoints through a real server — gunicorn started the way `make run` starts it
(runall's argv: gthread workers), Redis as cache — against bare views served by the same server.

    REDIS_URL=redis://127.0.0.1:6379/8 [DATABASE_URL=postgres://…] python bench/http_list.py [--requests 320]

Uses the 1M-row application bench/api_list.py seeds in the same database (run that once first; `make
bench` does, in order). Without REDIS_URL it prints that it skipped. The load client is bounded (a fixed
number of requests per connection) and runs in this process on loopback over keep-alive connections, at
concurrency 1 and 16; it shares the machine's cores with the server, so requests/s at 16 are a floor.
Endpoints are interleaved: each concurrency runs in rounds, and every round sends each endpoint its
share, so ours and the baselines see the same load. Prints p50/p99 ms and requests/s per endpoint and
the ratios to its bare view; the Redis commands an API request sends; the web workers' RSS after each
repetition (growth over --repeat runs). The bare views are bench/api_list.py's (the same fields from one
query, no authentication, no presenter): keyset+models for the native list, offset+models for Stuut,
offset for OpenInt, one customer's for Supaglue. Not part of pytest.
"""

import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
SETTINGS = "config.settings.local"
PAGE = 100
ROUNDS = 8


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"gunicorn exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            return
        except OSError:
            time.sleep(0.3)
    sys.exit("gunicorn did not answer within 60 s")


def run_load(port: int, path: str, headers: dict, *, concurrency: int, per_connection: int) -> tuple[list, float]:
    """Each of `concurrency` threads sends `per_connection` requests one after another on its own
    keep-alive connection. Returns (latencies in ms, requests per second)."""
    latencies: list[float] = []
    lock = threading.Lock()
    failures: list[str] = []

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        for _ in range(per_connection):
            started = time.perf_counter()
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
            mine.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                failures.append(f"{response.status} {body[:200]!r}")
                break
        connection.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        sys.exit(f"{path}: {failures[0]}")
    return sorted(latencies), len(latencies) / elapsed


def rss_mb(pids: list[int]) -> list[float]:
    sizes = []
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(int(line.split()[1]) / 1024)
    return sizes


def redis_calls(client, commands: tuple[str, ...]) -> int:
    stats = client.info("commandstats")
    return sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in commands)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=320, help="requests per endpoint and concurrency")
    parser.add_argument("--repeat", type=int, default=10, help="repetitions for the memory check")
    args = parser.parse_args()
    if not os.environ.get("REDIS_URL"):
        print("skipped: set REDIS_URL (redis://…/<db>) for the server's cache")
        return
    from api_list import DEFAULT_DB

    os.environ.setdefault("DATABASE_URL", DEFAULT_DB)
    if not os.environ["DATABASE_URL"].startswith("postgres"):
        sys.exit("The targets are defined on PostgreSQL; set DATABASE_URL to a postgres:// URL.")
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    os.environ["DEBUG"] = "false"
    os.environ["PATCHBAY_API_RATE_LIMIT_PER_MINUTE"] = str(10**9)  # the limiter runs, never trips

    import django

    django.setup()
    import redis
    from django.conf import settings

    from apps.ops.management.commands.runall import build_children
    from apps.tenants.models import Application
    from apps.tenants.services import api_key_create

    application = Application.objects.filter(slug="bench-1m").first()
    if application is None:
        sys.exit("No bench-1m application: run bench/api_list.py once first.")
    _, raw_key = api_key_create(application=application, name=f"http bench {time.time():.0f}")
    auth = {"Authorization": f"Bearer {raw_key}"}
    customer = "1m-5000"

    port = free_port()
    web = next(
        child
        for child in build_children(host="127.0.0.1", port=port, web_workers=2, worker_concurrency=2)
        if child.name == "web"
    )
    argv = [arg if arg != "config.wsgi:application" else "_http_wsgi:application" for arg in web.argv]
    argv[argv.index("--access-logfile") + 1] = "/dev/null"
    argv += ["--pythonpath", str(ROOT / "bench")]
    server = subprocess.Popen(argv, cwd=ROOT, env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until_up(port, server)
        workers = [int(p) for p in subprocess.check_output(["pgrep", "-P", str(server.pid)]).split()]
        app = f"app={application.pk}"
        stuut = f"/api/compat/stuut/v2/integrations/connections?limit={PAGE}"
        openint = f"/api/compat/openint/connection?limit={PAGE}&refresh_policy=none"
        # (name, baseline name, path, headers)
        endpoints = [
            ("bare keyset+models", "bare keyset+models", f"/bench/bare-keyset?{app}&models=1", {}),
            ("native v1 list", "bare keyset+models", f"/api/v1/connections?limit={PAGE}", auth),
            ("bare offset+models", "bare offset+models", f"/bench/bare-offset?{app}&models=1", {}),
            ("stuut compat", "bare offset+models", stuut, auth),
            ("bare offset", "bare offset", f"/bench/bare-offset?{app}", {}),
            ("openint compat", "bare offset", openint, auth),
            ("bare customer", "bare customer", f"/bench/bare-keyset?{app}&customer={customer}", {}),
            ("supaglue compat", "bare customer", f"/api/compat/supaglue/customers/{customer}/connections", auth),
        ]
        for _, _, path, headers in endpoints:  # warm every worker thread's database connection and caches
            run_load(port, path, headers, concurrency=16, per_connection=2)

        cache = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
        before = redis_calls(cache, ("incr", "incrby", "set", "setnx", "get", "exists", "pexpire", "expire"))
        probe = 100
        run_load(port, endpoints[1][2], auth, concurrency=1, per_connection=probe)
        per_request = (
            redis_calls(cache, ("incr", "incrby", "set", "setnx", "get", "exists", "pexpire", "expire")) - before
        ) / probe

        load = os.getloadavg()[0]
        print(
            f"\ngunicorn {' '.join(argv[argv.index('--workers') : argv.index('--workers') + 6])}, "
            f"page of {PAGE} of 1,000,000 rows, PostgreSQL + Redis cache, 2 cores shared, load {load:.1f}"
        )
        rss_runs = []
        for concurrency in (1, 16):
            per_round = max(1, args.requests // concurrency // ROUNDS)
            samples: dict[str, list[float]] = {name: [] for name, *_ in endpoints}
            busy = dict.fromkeys(samples, 0.0)
            for _ in range(ROUNDS):
                for name, _, path, headers in endpoints:
                    started = time.perf_counter()
                    latencies, _ = run_load(port, path, headers, concurrency=concurrency, per_connection=per_round)
                    busy[name] += time.perf_counter() - started
                    samples[name] += latencies
            results = {}
            for name, latencies in samples.items():
                latencies.sort()
                p99 = latencies[int(len(latencies) * 0.99) - 1]
                results[name] = (statistics.median(latencies), p99, len(latencies) / busy[name])
            print(f"\nconcurrency {concurrency}, {per_round * concurrency * ROUNDS} requests each in {ROUNDS} rounds")
            print(
                f"{'endpoint':<20}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'baseline':>20}"
                f"{'x base p50':>12}{'base/ours req/s':>17}"
            )
            for name, baseline, _, _ in endpoints:
                p50, p99, rps = results[name]
                base_p50, _, base_rps = results[baseline]
                print(
                    f"{name:<20}{p50:>9.2f}{p99:>9.2f}{rps:>9.1f}{baseline:>20}"
                    f"{p50 / base_p50:>12.2f}{base_rps / rps:>17.2f}"
                )
        print(
            f"\nrate limiter: {per_request:.2f} Redis commands per API request (expected 3: INCRBY, EXPIRE NX and "
            "GET of the API keys' generation, sent as one pipelined round trip)"
        )

        for _ in range(args.repeat):
            for _, _, path, headers in endpoints:
                run_load(port, path, headers, concurrency=4, per_connection=25)
            rss_runs.append(sum(rss_mb(workers)))
        print(
            f"web workers' RSS (sum of {len(workers)}) after each of {args.repeat} rounds of 800 requests: "
            + ", ".join(f"{size:.0f}" for size in rss_runs)
            + f" MB; growth first→last {rss_runs[-1] - rss_runs[0]:+.1f} MB"
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
