"""Benchmark: a page of 100 connections through every list endpoint, at 1k / 100k / 1M rows, first page and
middle page, each against a bare Django view that returns the same fields from one query.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pb_perf python bench/api_list.py [--requests 60]

Without DATABASE_URL the script creates (once) and uses a `patchbay_bench` database on 127.0.0.1:5432 as
user postgres. Each size is its own application ("bench-1k", "bench-100k", "bench-1m"), inserted once
with INSERT … SELECT generate_series (three rows share each created_at, so ties are exercised) and
reused by later runs. Everything runs in one process through django.test.Client: the same middleware,
database and rows for ours and the baseline, requests interleaved round-robin so all see the same load.

Baselines (the "bare" views): one `values()` query of the same page of 100 — every column the responses
are built from (the connection's, its customer's external id, its provider's name, whether it has
credentials) and, for the endpoints that return synced models, the models with their last sync run as
one JSON array per row (the subquery the API uses) — straight to JsonResponse: no authentication, no
rate limit, no presenter (so none of the derived fields: lifecycle, start link, the catalog's provider
objects, renamed and regrouped keys).
- "bare keyset+models" pages with the row-value condition the native cursor uses: the native list's.
- "bare offset+models" pages with OFFSET: Stuut's; "bare offset" without models: OpenInt's.
- "bare customer" is one customer's whole list (100 rows here, so no middle page): Supaglue's.
Prints p50/p95 per endpoint, its ratio to its baseline (target ≤ 1.5) and the queries of one request
(target ≤ 3, the API key lookup included). The ratio is the median of paired ratios: each timed request
divided by its baseline's request sent just before it in the same round, so a moment of load that slows
both cancels out instead of moving one p50. Not part of pytest.
"""

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/patchbay_bench"

SIZES = {"1k": 1_000, "100k": 100_000, "1m": 1_000_000}
PER_CUSTOMER = 100  # so a Supaglue customer list is a page of 100 too
PAGE = 100
PROVIDERS = ("hubspot", "salesforce", "ms-dynamics-bc", "clearbit")
TARGET_RATIO = 1.5
TARGET_QUERIES = 3
BARE_FIELDS = (
    "id",
    "application_id",
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
    "last_refreshed_at",
    "health_status_code",
    "health_message",
    "health_suggested_resolution",
    "health_authentication_required",
    "health_checked_at",
    "next_sync_at",
    "created_at",
    "modified_at",
    "connect_nonce",
)


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1].split("?")[0]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


def _bare_rows(request):
    from apps.connections.models import Connection

    rows = Connection.objects.filter(application_id=request.GET["app"])
    if request.GET.get("customer"):
        rows = rows.filter(customer__external_id=request.GET["customer"])
    return rows.order_by("-created_at", "-id")


def _bare_json(request, page):
    """The page's columns (with its models as one JSON array per row when asked) from one query."""
    import pydantic_core
    from django.db.models import Q
    from django.http import JsonResponse

    from apps.connections.selectors import ConnectionModelsJSON

    fields = {"has_credentials": Q(credentials__isnull=False)}
    with_models = bool(request.GET.get("models"))
    if with_models:
        fields["synced_models"] = ConnectionModelsJSON()
    items = list(page.values(*BARE_FIELDS, **fields))
    if with_models:
        for item in items:
            item["synced_models"] = pydantic_core.from_json(item["synced_models"] or "[]")
    return JsonResponse({"items": items})


def bare_keyset_view(request):
    from django.db.models import F
    from django.db.models.fields.tuple_lookups import Tuple, TupleLessThan

    from apps.api.pagination import decode_cursor

    rows = _bare_rows(request)
    if request.GET.get("cursor"):
        rows = rows.filter(TupleLessThan(Tuple(F("created_at"), F("id")), decode_cursor(request.GET["cursor"])))
    return _bare_json(request, rows.filter(pk__in=rows.values("pk")[:PAGE]))


def bare_offset_view(request):
    offset = int(request.GET.get("offset", 0))
    rows = _bare_rows(request)
    return _bare_json(request, rows.filter(pk__in=rows.values("pk")[offset : offset + PAGE]))


SEED_SQL = """
INSERT INTO tenants_customer (created_at, modified_at, id, external_id, name, email, metadata, application_id)
SELECT now(), now(), 'cus_' || %(slug)s || '_' || k, %(slug)s || '-' || k, 'Customer ' || k, '', '{}', %(app)s
FROM generate_series(0, %(customers)s - 1) AS k;

INSERT INTO connections_connection (
    created_at, modified_at, id, display_name, status, status_message, is_authentication_pending,
    is_running_setup, is_sync_disabled, disabled, settings, metadata, credentials, scopes_granted,
    refresh_failure_count, health_status_code, health_message, health_suggested_resolution,
    health_authentication_required, status_changed_at, connect_nonce, application_id, customer_id, provider_id)
SELECT timestamptz '2026-01-01' + make_interval(secs => n / 3), timestamptz '2026-01-01',
    'conn_' || %(slug)s || '_' || lpad(n::text, 8, '0'), 'Connection ' || n, 'healthy', '', false,
    false, false, false,
    CASE WHEN n %% 4 = 2 THEN '{"environment": "Production", "company": "11111111-2222-3333-4444-555555555555"}'
         ELSE '{}' END::jsonb,
    jsonb_build_object('n', n), NULL, '[]', 0, 'healthy', '', '', false, timestamptz '2026-01-01', md5(n::text),
    %(app)s,
    'cus_' || %(slug)s || '_' || (n %% %(customers)s), (%(providers)s)[1 + n %% 4]
FROM generate_series(0, %(count)s - 1) AS n;

INSERT INTO connections_connectionmodel (
    created_at, modified_at, id, name, display_name, is_read_enabled, is_write_enabled, is_custom_object,
    is_file_upload_enabled, is_webhooks_setup, is_read_supported, is_write_supported, is_sync_supported,
    connection_id)
SELECT c.created_at, c.created_at, 'cmod' || substr(c.id, 5), 'contacts', 'Contacts', true, false, false,
    false, false, true, false, true, c.id
FROM connections_connection c WHERE c.application_id = %(app)s;
"""


def seed(labels: list[str]) -> dict:
    """An application of each size asked for, created once; returns {size: (raw_key, application)}."""
    from django.db import connection, transaction

    from apps.catalog.models import Provider
    from apps.connections.models import Connection
    from apps.tenants.models import Application
    from apps.tenants.services import api_key_create, application_create

    provider_ids = [Provider.objects.get(name=name).pk for name in PROVIDERS]
    seeded = {}
    for label in labels:
        count = SIZES[label]
        slug = f"bench-{label}"
        application = Application.objects.filter(slug=slug).first() or application_create(name=slug, slug=slug)
        if not Connection.objects.filter(application=application).exists():
            started = time.perf_counter()
            params = {
                "slug": label,
                "app": application.pk,
                "customers": count // PER_CUSTOMER,
                "count": count,
                "providers": provider_ids,
            }
            with transaction.atomic(), connection.cursor() as cursor:
                for statement in SEED_SQL.split(";\n"):
                    if statement.strip():
                        cursor.execute(statement, params)
            print(f"inserted {count:,} connections for {slug} in {time.perf_counter() - started:.1f}s")
        _, raw_key = api_key_create(application=application, name=f"bench {time.time():.0f}")
        seeded[label] = (raw_key, application)
    with connection.cursor() as cursor:
        # Bulk-loaded rows have no planner statistics or visibility map yet; without this the first runs
        # measure a cold, mis-planned database.
        cursor.execute("VACUUM ANALYZE")
    return seeded


def middle_cursor(application, count: int) -> str:
    from apps.api.pagination import encode_cursor
    from apps.connections.models import Connection

    created_at, pk = (
        Connection.objects.filter(application=application)
        .order_by("-created_at", "-id")
        .values_list("created_at", "id")[count // 2]
    )
    return encode_cursor(created_at, pk)


def endpoints_for(label: str, raw_key: str, application) -> list[tuple[str, str, str, dict]]:
    """(name, baseline name, path, headers) for the first and the middle page of one size."""
    count = SIZES[label]
    auth = {"Authorization": f"Bearer {raw_key}"}
    middle = middle_cursor(application, count)
    customer = f"{label}-{count // PER_CUSTOMER // 2}"
    app = f"app={application.pk}"
    rows = []
    for position, cursor, offset in (("first", "", 0), ("middle", middle, count // 2)):
        keyset = f"&cursor={middle}" if cursor else ""
        keyset_models, offset_models, offset_bare = (
            f"bare keyset+models {position}",
            f"bare offset+models {position}",
            f"bare offset {position}",
        )
        rows += [
            (keyset_models, keyset_models, f"/bench/bare-keyset?{app}&models=1{keyset}", {}),
            (f"native {position}", keyset_models, f"/api/v1/connections?limit={PAGE}{keyset}", auth),
            (offset_models, offset_models, f"/bench/bare-offset?{app}&models=1&offset={offset}", {}),
            (
                f"stuut {position}",
                offset_models,
                f"/api/compat/stuut/v2/integrations/connections?limit={PAGE}&offset={offset}",
                auth,
            ),
            (offset_bare, offset_bare, f"/bench/bare-offset?{app}&offset={offset}", {}),
            (
                f"openint {position}",
                offset_bare,
                f"/api/compat/openint/connection?limit={PAGE}&offset={offset}&refresh_policy=none",
                auth,
            ),
        ]
    rows += [
        ("bare customer", "bare customer", f"/bench/bare-keyset?{app}&customer={customer}", {}),
        ("supaglue customer", "bare customer", f"/api/compat/supaglue/customers/{customer}/connections", auth),
    ]
    return rows


def measure_all(client, endpoints, n):
    """Round-robin over the endpoints so every one sees the same machine load (each endpoint right after its
    baseline); returns per endpoint its timings in ms, one a round in round order, and its queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    queries, timings = {}, {name: [] for name, *_ in endpoints}
    for name, _, path, headers in endpoints:
        for _ in range(3):
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (path, response.status_code, response.content[:300])
        with CaptureQueriesContext(connection) as ctx:
            client.get(path, headers=headers)
        queries[name] = len(ctx.captured_queries)
    # As config/wsgi.py does in a server: what is loaded by now is frozen, so a full garbage collection
    # (which lands on whichever request in the round-robin happens to cross its threshold) does not walk it.
    gc.collect()
    gc.freeze()
    for _ in range(n):
        for name, _, path, headers in endpoints:
            started = time.perf_counter()
            client.get(path, headers=headers)
            timings[name].append((time.perf_counter() - started) * 1000)
    return timings, queries


def percentile(values: list[float], fraction: float) -> float:
    return sorted(values)[max(int(len(values) * fraction) - 1, 0)]


def paired_ratio(ours: list[float], baseline: list[float]) -> float:
    """The median of ours ÷ baseline taken request by request, each pair from the same round."""
    return statistics.median(mine / base for mine, base in zip(ours, baseline, strict=True))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=60, help="timed requests per endpoint")
    parser.add_argument("--sizes", default=",".join(SIZES), help="comma-separated subset of " + ",".join(SIZES))
    args = parser.parse_args()
    sizes = args.sizes.split(",")
    if unknown := [label for label in sizes if label not in SIZES]:
        parser.error(f"unknown size {', '.join(unknown)}: choose from {', '.join(SIZES)}")

    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = DEFAULT_DB
    if not os.environ["DATABASE_URL"].startswith("postgres"):
        sys.exit("The targets are defined on PostgreSQL; set DATABASE_URL to a postgres:// URL.")
    ensure_database(os.environ["DATABASE_URL"])

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
    urlconf.urlpatterns = [
        path("bench/bare-keyset", bare_keyset_view),
        path("bench/bare-offset", bare_offset_view),
        path("", include("config.urls")),
    ]
    sys.modules["bench_urls"] = urlconf
    settings.ROOT_URLCONF = "bench_urls"
    clear_url_caches()

    seeded = seed(sizes)
    client = Client(HTTP_HOST="127.0.0.1")
    print(f"\n{args.requests} requests each, page of {PAGE}, PostgreSQL, load: {os.getloadavg()[0]:.1f} (1-min avg)")
    worst, most_queries = 0.0, 0
    for label in sizes:
        endpoints = endpoints_for(label, *seeded[label])
        timings, queries = measure_all(client, endpoints, args.requests)
        print(f"\n{SIZES[label]:,} rows")
        print(f"{'endpoint':<27}{'p50 ms':>9}{'p95 ms':>9}{'baseline':>28}{'x base paired':>15}{'queries':>9}")
        for name, baseline, _, _ in endpoints:
            ratio = paired_ratio(timings[name], timings[baseline])
            if not name.startswith("bare"):
                worst, most_queries = max(worst, ratio), max(most_queries, queries[name])
            p50, p95 = statistics.median(timings[name]), percentile(timings[name], 0.95)
            print(f"{name:<27}{p50:>9.2f}{p95:>9.2f}{baseline:>28}{ratio:>15.2f}{queries[name]:>9}")
    verdict = "OK" if worst <= TARGET_RATIO and most_queries <= TARGET_QUERIES else "OVER TARGET"
    print(
        f"\nworst ratio {worst:.2f} (target ≤ {TARGET_RATIO}), most queries {most_queries} "
        f"(target ≤ {TARGET_QUERIES}): {verdict}"
    )


if __name__ == "__main__":
    main()
