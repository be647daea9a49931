"""Shared set-up for benchmarks: a throwaway PostgreSQL database (or DATABASE_URL) and Django."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def django_on_bench_database(name: str) -> None:
    """Use DATABASE_URL, or a fresh PostgreSQL database of this run's own, dropped when the run ends."""
    sys.path.insert(0, str(ROOT))
    if "DATABASE_URL" not in os.environ:
        import atexit

        import psycopg

        database = f"{name}_{os.getpid()}"
        admin_url = "postgresql://postgres@127.0.0.1:5432/postgres"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')

        def drop() -> None:
            from django.db import connections

            connections.close_all()
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

        atexit.register(drop)
        os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("load_catalog", verbosity=0)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def bench_tenant(*, provider_name: str, base_url: str, pkce: bool = False, verification: bool = False):
    """A provider pointing at a local endpoint, an application with its OAuth client, and one customer."""
    from apps.catalog.models import Provider
    from apps.catalog.schema import validate_provider
    from apps.catalog.services import connector_config_upsert
    from apps.tenants.models import Customer
    from apps.tenants.services import application_create

    data = {
        "name": provider_name,
        "display_name": "Bench",
        "description": "Benchmark provider.",
        "categories": ["crm"],
        "auth_type": "oauth2",
        "website": "https://example.com",
        "color": "#000000",
        "oauth": {"authorize_url": f"{base_url}/authorize", "token_url": f"{base_url}/token", "pkce": pkce},
    }
    if verification:
        data["verification"] = {"url": f"{base_url}/me"}
    definition = validate_provider(data, source=f"{provider_name}.yaml")
    provider = Provider.objects.create(
        name=provider_name,
        display_name="Bench",
        auth_type="oauth2",
        categories=["crm"],
        definition=definition,
        source_file="bench",
        content_hash="bench",
    )
    application = application_create(name="Bench", slug="bench")
    config = connector_config_upsert(application=application, provider=provider, client_id="id", client_secret="s")
    customer = Customer.objects.create(application=application, external_id="bench")
    return provider, application, config, customer
