"""10,000 expiring connections refreshed through the real path: Celery beat → Redis → Celery worker →
token endpoint → database, against what the token endpoint itself allows.

    REDIS_URL=redis://127.0.0.1:6379/8 python bench/refresh_sweep.py [--connections 10000] [--latency-ms 5]
        [--repeat 10]

Runs on its own throwaway PostgreSQL database (or DATABASE_URL). Starts the worker and beat with the
argv `make run` uses (manage.py runall's), Redis as broker; the beat schedule's refresh sweep finds the
due connections (it first fires one interval after beat starts, so the clock starts at the first token
request, not at beat start). A local token endpoint (a process of its own, one asyncio loop) answers
every refresh after a fixed latency and rotates refresh tokens (`rt-<n>` becomes `rt-<n>.1`, then
`rt-<n>.2`); it counts the requests made for each connection in a round, so a double refresh shows up.
Prints:
- the endpoint's own limit: requests / concurrency * latency, where concurrency is the requests the
  sweep keeps in flight (worker processes x REFRESH_BATCH_CONCURRENCY);
- a client measured in its own process: the same number of requests kept that many in flight over
  keep-alive connections, nothing else, from threads with urllib3 (as Patchbay) and with http.client,
  and from one asyncio event loop with no HTTP library (the floor for Python here); the fastest is the
  "x client" baseline; each with its ratio to the limit and its CPU per request;
- for each round: wall time from first to last token request, connections/s, ratio to both baselines,
  worker CPU per connection, double refreshes and connections left unrefreshed, and the Celery worker's
  RSS (main process and pool) after the round; then the CPU a connection cost over the round in the
  worker, the local PostgreSQL server, the endpoint and the whole machine (the bench's own polling
  included), and how many cores 1.5x the limit would need at that cost. With --repeat N, rounds 2..N
  make every connection due again and publish the sweep task to the broker as beat does (without waiting
  a minute for beat), in the same worker: the RSS column shows whether it grows.
With --kill-during-sweep [--reuse-seconds 60] the provider accepts a used refresh token again only for
--reuse-seconds; the worker's pool processes are killed (SIGKILL) once half the connections have had
their token request (round 1), so some answers are given and never saved. Prints the connections lost
(must be 0 with a reuse grace) and the resends of interrupted refreshes.
Not part of pytest.
"""

import argparse
import asyncio
import http.client
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import bench_tenant, django_on_bench_database  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def next_refresh_token(presented: str) -> str:
    """rt-7 → rt-7.1 → rt-7.2: the connection stays readable in every generation."""
    connection, _, generation = presented.partition(".")
    return f"{connection}.{int(generation or 0) + 1}"


class TokenEndpoint:
    """Answers each refresh after `latency` with a new access and refresh token; counts presented tokens.

    Measuring apparatus, kept out of the measured processes' way: it runs in a process of its own (forked
    before anything else starts), as one asyncio event loop that reads HTTP/1.1 keep-alive requests off
    the socket and answers each `latency` after it arrived (a timer, no thread per connection), so the
    CPU it takes from the two shared cores is a small part of a request's. The bench asks it over a pipe
    for its counts."""

    def __init__(self, latency: float, reuse_seconds: float = float("inf")):
        listener = socket.create_server(("127.0.0.1", 0), backlog=256)
        self.url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        self.commands, serving_end = multiprocessing.get_context("fork").Pipe()
        self.process = multiprocessing.get_context("fork").Process(
            target=_serve_token_endpoint, args=(listener, serving_end, latency, reuse_seconds), daemon=True
        )
        self.process.start()
        listener.close()
        serving_end.close()

    def _ask(self, command: str):
        self.commands.send(command)
        return self.commands.recv()

    def reset(self) -> None:
        self._ask("reset")

    def progress(self) -> tuple[int, int]:
        """Refresh tokens presented so far (distinct) and requests answered or waiting."""
        return self._ask("progress")

    def counts(self) -> tuple[Counter, float | None, float | None]:
        """Requests per presented refresh token, and when (time.perf_counter) the first and last arrived."""
        return self._ask("counts")

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid)


def requests_per_connection(presented: Counter) -> Counter:
    per_connection: Counter = Counter()
    for token, count in presented.items():
        per_connection[token.partition(".")[0]] += count
    return per_connection


def _serve_token_endpoint(listener: socket.socket, commands, latency: float, reuse_seconds: float) -> None:
    presented: Counter = Counter()
    first_used_at: dict[str, float] = {}
    span: list[float | None] = [None, None]  # first and last request's arrival

    def answer(status: int, body: dict) -> bytes:
        payload = json.dumps(body).encode()
        reason = "OK" if status == 200 else "Bad Request"
        head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        return head.encode() + payload

    def token_answer(form_body: bytes) -> bytes:
        presented_token = parse_qs(form_body.decode()).get("refresh_token", [""])[0]
        now = time.perf_counter()
        presented[presented_token] += 1
        span[0] = span[0] or now
        span[1] = now
        first_use = first_used_at.setdefault(presented_token, now)
        if now - first_use > reuse_seconds:  # a rotated refresh token past its grace
            return answer(400, {"error": "invalid_grant"})
        return answer(
            200,
            {
                "access_token": f"at-{presented_token}",
                "refresh_token": next_refresh_token(presented_token),
                "token_type": "bearer",
                "expires_in": 3600,
            },
        )

    class KeepAliveTokenRequests(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport
            self.received = b""
            transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def data_received(self, data: bytes) -> None:
            self.received += data
            while (head_end := self.received.find(b"\r\n\r\n")) >= 0:
                length = 0
                for line in self.received[:head_end].split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                request_end = head_end + 4 + length
                if len(self.received) < request_end:
                    return
                response = token_answer(self.received[head_end + 4 : request_end])
                self.received = self.received[request_end:]
                loop.call_later(latency, self.send, response)

        def send(self, response: bytes) -> None:
            if not self.transport.is_closing():
                self.transport.write(response)

    def command() -> None:
        asked = commands.recv()
        if asked == "reset":
            presented.clear()
            first_used_at.clear()
            span[:] = [None, None]
            commands.send(None)
        elif asked == "progress":
            commands.send((len(presented), sum(presented.values())))
        else:
            commands.send((presented, span[0], span[1]))

    loop = asyncio.new_event_loop()
    loop.add_reader(commands.fileno(), command)
    loop.run_until_complete(loop.create_server(KeepAliveTokenRequests, sock=listener))
    loop.run_forever()


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


def _process_ticks(stat_path: Path) -> tuple[str, int, int, int]:
    """A process's name, parent, own CPU ticks (user + system) and its reaped children's."""
    head, _, rest = stat_path.read_text().rpartition(")")
    fields = rest.split()
    return head.partition("(")[2], int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def postgres_cpu_seconds() -> float | None:
    """CPU of the local PostgreSQL server: its processes, plus the backends that already exited (counted by
    the postmaster as reaped children). None when no PostgreSQL runs on this machine."""
    total, found = 0, False
    for stat_path in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, parent, own, reaped = _process_ticks(stat_path)
            parent_name = _process_ticks(Path(f"/proc/{parent}/stat"))[0] if parent > 1 else ""
        except (FileNotFoundError, ProcessLookupError):
            continue
        if name == "postgres":
            found = True
            total += own + (reaped if parent_name != "postgres" else 0)
    return total / CLOCK_TICKS if found else None


def machine_busy_seconds() -> float:
    """CPU time every core of the machine spent on anything but idling (/proc/stat)."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS


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


def client_alone(url: str, *, requests_count: int, concurrency: int, client: str) -> tuple[float, float]:
    """Seconds and CPU seconds for `requests_count` token requests (the same form POST Patchbay sends) kept
    `concurrency` at a time over keep-alive connections, nothing else: from as many threads with `urllib3`
    (the library Patchbay's provider client uses, one pool shared by the threads) or `http.client` (one
    connection per thread, the leanest the standard library offers), or from one `asyncio` event loop
    writing the request and reading the Content-Length answer itself (no HTTP library, no threads: the
    floor of what Python can do here). Runs in a process of its own."""
    import urllib3

    parts = urlsplit(url)
    pool = urllib3.HTTPConnectionPool(parts.hostname, parts.port, maxsize=concurrency, retries=False, timeout=30)
    local = threading.local()
    headers = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}

    def form(n: int) -> str:
        return urlencode({"grant_type": "refresh_token", "refresh_token": f"c-{n}", "client_id": "id"})

    def with_urllib3(n: int) -> None:
        json.loads(pool.request("POST", "/token", body=form(n), headers=headers).data)

    def with_http_client(n: int) -> None:
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        local.connection.request("POST", "/token", body=form(n), headers=headers)
        json.loads(local.connection.getresponse().read())

    async def with_asyncio() -> None:
        numbers = iter(range(requests_count))

        async def keep_alive_connection() -> None:
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
            for n in numbers:
                body = form(n).encode()
                head = (
                    f"POST /token HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: application/json\r\n"
                    f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
                )
                writer.write(head.encode() + body)
                answer_head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.partition(b":")[2])
                    for line in answer_head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                json.loads(await reader.readexactly(length))
            writer.close()

        await asyncio.gather(*(keep_alive_connection() for _ in range(concurrency)))

    started, cpu_started = time.perf_counter(), time.process_time()
    if client == "asyncio":
        asyncio.run(with_asyncio())
    else:
        with ThreadPoolExecutor(concurrency) as threads:
            list(threads.map(with_urllib3 if client == "urllib3" else with_http_client, range(requests_count)))
    return time.perf_counter() - started, time.process_time() - cpu_started


def client_alone_in_own_process(url: str, *, requests_count: int, concurrency: int, client: str) -> tuple[float, float]:
    with multiprocessing.get_context("spawn").Pool(1) as process:
        return process.apply(
            client_alone, (url,), {"requests_count": requests_count, "concurrency": concurrency, "client": client}
        )


SWEEP_TASK = "apps.connections.tasks.refresh_expiring_credentials"
CLIENTS_ALONE = ("urllib3", "http.client", "asyncio")


def wait_for_round(
    endpoint: TokenEndpoint, *, worker: subprocess.Popen, application, count: int, timeout: int, kill: bool
) -> int | None:
    """Wait until every connection is refreshed (or given up as interrupted); with --kill-during-sweep,
    SIGKILL the worker's pool once half of them had their token request. Returns when the kill happened."""
    from apps.connections.models import Connection

    connections = Connection.objects.filter(application=application)
    started_at = time.monotonic()
    killed_after = None
    while time.monotonic() - started_at < timeout:
        time.sleep(0.2 if kill and killed_after is None else 1)
        tokens_seen, _requests = endpoint.progress()
        if kill and killed_after is None and tokens_seen >= count // 2:
            killed_after = tokens_seen
            for pid in subprocess.run(["pgrep", "-P", str(worker.pid)], capture_output=True, text=True).stdout.split():
                os.kill(int(pid), signal.SIGKILL)
        refreshed = connections.filter(last_refreshed_at__isnull=False).count()
        given_up = connections.filter(health_status_code="refresh_interrupted").count()
        if refreshed + given_up >= count:
            break
    quiet_since = time.monotonic()
    seen = endpoint.progress()[1]
    while time.monotonic() - quiet_since < 3:  # let duplicates still queued show up at the endpoint
        time.sleep(0.5)
        if endpoint.progress()[1] != seen:
            seen, quiet_since = endpoint.progress()[1], time.monotonic()
    return killed_after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=5.0)
    parser.add_argument("--worker-concurrency", type=int, default=2, help="as make run starts the worker")
    parser.add_argument("--repeat", type=int, default=1, help="rounds in the same worker (RSS after each)")
    parser.add_argument("--timeout", type=int, default=1800, help="give up on a round after this many seconds")
    parser.add_argument("--kill-during-sweep", action="store_true", help="SIGKILL the pool halfway (round 1)")
    parser.add_argument("--reuse-seconds", type=int, default=60, help="the provider's refresh-token reuse grace")
    args = parser.parse_args()
    if args.kill_during_sweep:
        os.environ["PATCHBAY_PROVIDER_TIMEOUT_SECONDS"] = "1"  # leases of killed refreshes end after 12 s
    if not os.environ.get("REDIS_URL"):
        print("skipped: set REDIS_URL (redis://…/<db>) for the worker's broker")
        return
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["CELERY_BROKER_URL"] = os.environ["REDIS_URL"]
    os.environ["DEBUG"] = "false"
    django_on_bench_database("patchbay_bench_sweep")

    from django.conf import settings
    from django.db.models import Count
    from django.utils import timezone

    from apps.connections.models import Connection, RefreshEvent
    from apps.connections.services import REFRESH_BATCH_CONCURRENCY, REFRESH_BATCH_SIZE
    from apps.ops.management.commands.runall import build_children
    from config.celery import app

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
            health_checked_at=now,  # not due for beat's health check, which would refresh them one at a time
        )
        row.credentials = {"access_token": f"old-{n}", "refresh_token": f"rt-{n}"}
        rows.append(row)
    Connection.objects.bulk_create(rows, batch_size=1000)

    in_flight = args.worker_concurrency * REFRESH_BATCH_CONCURRENCY
    limit = args.connections / in_flight * latency
    alone_by_client = {
        client: client_alone_in_own_process(
            endpoint.url, requests_count=args.connections, concurrency=in_flight, client=client
        )
        for client in CLIENTS_ALONE
    }
    endpoint_cpu = endpoint.cpu_seconds()
    endpoint.reset()
    alone = min(seconds for seconds, _cpu in alone_by_client.values())

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
    print(
        f"\n{args.connections:,} connections, token endpoint latency {args.latency_ms:g} ms, batches of "
        f"{REFRESH_BATCH_SIZE}, worker --concurrency {args.worker_concurrency} x {REFRESH_BATCH_CONCURRENCY} "
        f"requests in flight, {os.cpu_count()} cores shared"
    )
    print(f"endpoint limit (requests / concurrency * latency) {limit:8.2f} s")
    for client, (seconds, cpu) in alone_by_client.items():
        kept_by = "one event loop" if client == "asyncio" else f"{in_flight} threads"
        print(
            f"client alone ({client + ')':12} own process, {kept_by:15} {seconds:8.2f} s "
            f"({seconds / limit:.2f}x limit, CPU {cpu / args.connections * 1000:.3f} ms a request)",
            flush=True,
        )
    print(
        f"endpoint CPU per request (own process, the clients alone) "
        f"{endpoint_cpu / (len(CLIENTS_ALONE) * args.connections) * 1000:.3f} ms; x client below: the fastest "
        f"client alone"
    )
    worker = subprocess.Popen(worker_argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(3)
    beat = subprocess.Popen(beat_argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print("round 1 waits for beat's first sweep (one minute after beat starts)…", flush=True)
    print("\nround  trigger   sweep s  conn/s  x limit  x client  CPU ms/conn  RSS MB  requests  double  lost  load")
    results = []
    try:
        for round_number in range(1, args.repeat + 1):
            if round_number > 1:
                Connection.objects.filter(application=application).update(
                    refresh_due_at=timezone.now() - timedelta(seconds=1), last_refreshed_at=None
                )
                endpoint.reset()
            cpu_before = cpu_seconds(worker.pid)
            postgres_before, endpoint_before, machine_before = (
                postgres_cpu_seconds(),
                endpoint.cpu_seconds(),
                machine_busy_seconds(),
            )
            round_started = timezone.now()
            if round_number > 1:
                app.send_task(SWEEP_TASK)
            killed_after = wait_for_round(
                endpoint,
                worker=worker,
                application=application,
                count=args.connections,
                timeout=args.timeout,
                kill=args.kill_during_sweep and round_number == 1,
            )
            cpu = cpu_seconds(worker.pid) - cpu_before
            machine_cpu = machine_busy_seconds() - machine_before
            endpoint_cpu_round = endpoint.cpu_seconds() - endpoint_before
            postgres_after = postgres_cpu_seconds()
            presented, first_at, last_at = endpoint.counts()
            sweep = (last_at - first_at + latency) if first_at and last_at else float("nan")
            per_connection = requests_per_connection(presented)
            requests_made = sum(per_connection.values())
            resends = sum(count - 1 for count in presented.values() if count > 1)
            # A second refresh of one connection presents the refresh token the first one issued; the same
            # token presented twice is a concurrent double request, or, after the kill, a resend.
            doubles = sum(count - 1 for count in per_connection.values() if count > 1)
            if killed_after is not None:
                doubles -= resends
            lost = Connection.objects.filter(application=application, last_refreshed_at__isnull=True).count()
            rss = rss_mb(worker.pid)
            results.append((sweep, rss))
            print(
                f"{round_number:5}  {'beat' if round_number == 1 else 'broker':7} {sweep:9.2f} "
                f"{args.connections / sweep:7.0f} {sweep / limit:8.2f} {sweep / alone:9.2f} "
                f"{cpu / args.connections * 1000:12.2f} {rss:7.0f} {requests_made:9,} {doubles:7} {lost:5} "
                f"{os.getloadavg()[0]:5.1f}",
                flush=True,
            )
            per_connection_ms = 1000 / args.connections
            postgres_ms = (
                f"{(postgres_after - postgres_before) * per_connection_ms:.2f}"
                if postgres_before is not None and postgres_after is not None
                else "n/a (not local)"
            )
            target_rate = args.connections / (1.5 * limit)
            print(
                f"       CPU ms a connection: worker {cpu * per_connection_ms:.2f}, PostgreSQL {postgres_ms}, "
                f"endpoint {endpoint_cpu_round * per_connection_ms:.2f}, whole machine "
                f"{machine_cpu * per_connection_ms:.2f}; 1.5x the limit ({target_rate:,.0f} connections/s) at "
                f"that cost needs {machine_cpu / args.connections * target_rate:.2f} of {os.cpu_count()} cores"
                + (" (round 1: includes the minute beat takes to fire)" if round_number == 1 else "")
            )
            failures = (
                RefreshEvent.objects.filter(application=application, finished_at__gte=round_started)
                .exclude(outcome=RefreshEvent.Outcome.REFRESHED)
                .values_list("outcome", "error_code")
                .annotate(count=Count("id"))
            )
            for outcome, code, count in failures:
                print(f"       {count:,} requests ended {outcome} ({code}): retried by a later sweep")
            if killed_after is not None:
                print(
                    f"       pool killed after {killed_after:,} connections' token requests "
                    f"(reuse grace {args.reuse_seconds} s): resends {resends}, connections lost {lost}"
                )
    finally:
        for process in (beat, worker):
            process.terminate()
        for process in (beat, worker):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        (settings.VAR_DIR / f"bench-beat-{os.getpid()}").unlink(missing_ok=True)

    best = min(sweep for sweep, _rss in results)
    print(
        f"\nratio sweep / endpoint limit, round 1 {results[0][0] / limit:6.2f}x, best {best / limit:6.2f}x "
        f"(target ≤ 1.5)"
    )
    if len(results) > 2:
        print(
            f"worker RSS round 2 → {len(results)}: {results[1][1]:.0f} → {results[-1][1]:.0f} MB "
            f"({results[-1][1] - results[1][1]:+.1f} MB)"
        )


if __name__ == "__main__":
    main()
