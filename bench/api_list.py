"""Benchmark: list a page of 100 connections out of 100,000, through every API surface, against a bare view.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/patchbay_bench python bench/api_list.py [--requests 200]

Without DATABASE_URL the script creates (once) and uses a throwaway `patchbay_bench` database on
127.0.0.1:5432 as user postgres. Rows are bulk-inserted once and reused by later runs. Everything is
measured in one process through django.test.Client, so the numbers compare like with like: the same
middleware, the same database, the same 100 rows. Prints p50/p95 per endpoint, the ratio to the bare
view (target ≤ 3) and the query count of one request. Not part of pytest.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/patchbay_bench"

TOTAL_CONNECTIONS = 100_000
CUSTOMERS = 1_000  # 100 connections each, so the per-customer Supaglue list is also a page of 100
PAGE = 100
PROVIDERS = ("hubspot", "salesforce", "ms-dynamics-bc", "clearbit")


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1].split("?")[0]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


def bare_rows_view(request):
    """What a hand-written endpoint would do: one values() query, straight to JSON."""
    from django.http import JsonResponse

    from apps.connections.models import Connection

    rows = list(
        Connection.objects.filter(application__slug="bench")
        .order_by("-created_at", "-id")
        .values(
            "id",
            "customer__external_id",
            "provider__name",
            "connector_config_id",
            "display_name",
            "status",
            "status_message",
            "is_authentication_pending",
            "is_running_setup",
            "is_sync_disabled",
            "disabled",
            "settings",
            "metadata",
            "scopes_granted",
            "credentials_expires_at",
            "health_status_code",
            "health_message",
            "health_authentication_required",
            "health_checked_at",
            "next_sync_at",
            "created_at",
            "modified_at",
        )[:PAGE]
    )
    return JsonResponse({"items": rows})


def seed():
    from django.db import connection, transaction

    from apps.catalog.models import Provider
    from apps.connections.models import Connection, ConnectionModel
    from apps.tenants.models import Application, Customer
    from apps.tenants.services import api_key_create, application_create

    application = Application.objects.filter(slug="bench").first() or application_create(name="Bench", slug="bench")
    _, raw_key = api_key_create(application=application, name=f"bench {time.time():.0f}")
    existing = Connection.objects.filter(application=application).count()
    if existing >= TOTAL_CONNECTIONS:
        print(f"reusing {existing:,} connections")
    else:
        started = time.perf_counter()
        providers = [Provider.objects.get(name=name) for name in PROVIDERS]
        with transaction.atomic():
            Customer.objects.bulk_create(
                [Customer(application=application, external_id=f"bench-{n}") for n in range(CUSTOMERS)],
                ignore_conflicts=True,
            )
        customers = list(Customer.objects.filter(application=application).order_by("external_id"))
        batch = 5_000
        for start in range(existing, TOTAL_CONNECTIONS, batch):
            with transaction.atomic():
                connections = Connection.objects.bulk_create(
                    [
                        Connection(
                            application=application,
                            customer=customers[n % len(customers)],
                            provider=providers[n % len(providers)],
                            display_name=f"Connection {n}",
                            status="healthy",
                            is_authentication_pending=False,
                            health_status_code="healthy",
                            settings={"environment": "Production", "company": "11111111-2222-3333-4444-555555555555"}
                            if n % len(providers) == 2
                            else {},
                            metadata={"n": n},
                        )
                        for n in range(start, min(start + batch, TOTAL_CONNECTIONS))
                    ]
                )
                ConnectionModel.objects.bulk_create(
                    [ConnectionModel(connection=c, name="contacts", display_name="Contacts") for c in connections]
                )
            print(f"  inserted {min(start + batch, TOTAL_CONNECTIONS):,}", end="\r")
        print(f"inserted {TOTAL_CONNECTIONS - existing:,} connections in {time.perf_counter() - started:.1f}s")
    if connection.vendor == "postgresql":
        # Bulk-loaded rows have no planner statistics and no visibility map yet (autovacuum would get
        # there later); without this the first runs measure a cold, mis-planned database.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    customer = Customer.objects.get(application=application, external_id="bench-7")
    return raw_key, customer.external_id


def measure_all(client, endpoints, n):
    """Round-robin over the endpoints so every one sees the same machine load; returns per-endpoint stats."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    queries, sizes, timings = {}, {}, {name: [] for name, _, _ in endpoints}
    for name, path, headers in endpoints:
        for _ in range(5):
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (path, response.status_code, response.content[:300])
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(path, headers=headers)
        queries[name], sizes[name] = len(ctx.captured_queries), len(response.content)
    for _ in range(n):
        for name, path, headers in endpoints:
            started = time.perf_counter()
            client.get(path, headers=headers)
            timings[name].append((time.perf_counter() - started) * 1000)
    results = {}
    for name, values in timings.items():
        values.sort()
        results[name] = (statistics.median(values), values[int(len(values) * 0.95) - 1], queries[name], sizes[name])
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="timed requests per endpoint")
    args = parser.parse_args()

    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = DEFAULT_DB
    if os.environ["DATABASE_URL"].startswith("postgres"):
        ensure_database(os.environ["DATABASE_URL"])
    else:
        print("warning: not PostgreSQL; the targets are defined on Postgres")

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client
    from django.urls import clear_url_caches, include, path

    call_command("migrate", verbosity=0)
    call_command("load_catalog", verbosity=0)
    settings.PATCHBAY_API_RATE_LIMIT_PER_MINUTE = 10**9  # keep the limiter's cost in, never trip it
    settings.DEBUG = False

    import types

    urlconf = types.ModuleType("bench_urls")
    urlconf.urlpatterns = [path("bench/bare", bare_rows_view), path("", include("config.urls"))]
    sys.modules["bench_urls"] = urlconf
    settings.ROOT_URLCONF = "bench_urls"
    clear_url_caches()

    raw_key, customer_external_id = seed()
    client = Client(HTTP_HOST="127.0.0.1")
    headers = {"Authorization": f"Bearer {raw_key}"}
    endpoints = [
        ("bare values() view", "/bench/bare", {}),
        ("native v1 list", f"/api/v1/connections?limit={PAGE}", headers),
        ("stuut compat", f"/api/compat/stuut/v2/integrations/connections?limit={PAGE}", headers),
        ("openint compat", f"/api/compat/openint/connection?limit={PAGE}&refresh_policy=none", headers),
        ("supaglue compat", f"/api/compat/supaglue/customers/{customer_external_id}/connections", headers),
    ]
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(f"\n{args.requests} requests each, page of {PAGE} from {TOTAL_CONNECTIONS:,} connections ({engine})")
    results = measure_all(client, endpoints, args.requests)
    bare_p50 = results["bare values() view"][0]
    print(f"{'endpoint':<22}{'p50 ms':>9}{'p95 ms':>9}{'x bare p50':>12}{'queries':>9}{'bytes':>10}")
    for name, (p50, p95, queries, size) in results.items():
        print(f"{name:<22}{p50:>9.2f}{p95:>9.2f}{p50 / bare_p50:>12.2f}{queries:>9}{size:>10,}")
    worst = max(p50 / bare_p50 for name, (p50, *_rest) in results.items() if name != "bare values() view")
    print(f"\nworst ratio {worst:.2f} (target ≤ 3): {'OK' if worst <= 3 else 'OVER TARGET'}")


if __name__ == "__main__":
    main()
