"""DATABASE_URL's options: PostgreSQL prepares the statements a connection repeats; SQLite keeps its own."""

import pytest
from django.db import connection

from config.settings.base import SQLITE_OPTIONS, database_from_env


def test_postgresql_binds_on_the_server_and_prepares_repeated_statements(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgres://patchbay@db.example.com:5432/patchbay?sslmode=require")
    monkeypatch.delenv("DATABASE_PREPARED_STATEMENTS", raising=False)

    options = database_from_env(tmp_path / "unused.sqlite3")["OPTIONS"]

    assert options == {"sslmode": "require", "server_side_binding": True, "prepare_threshold": 5}


def test_prepared_statements_can_be_turned_off_for_a_transaction_pooler(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgres://patchbay@db.example.com:5432/patchbay")
    monkeypatch.setenv("DATABASE_PREPARED_STATEMENTS", "false")

    assert not database_from_env(tmp_path / "unused.sqlite3").get("OPTIONS")


def test_sqlite_keeps_its_own_options(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'patchbay.sqlite3'}")
    monkeypatch.delenv("DATABASE_PREPARED_STATEMENTS", raising=False)

    assert database_from_env(tmp_path / "unused.sqlite3")["OPTIONS"] == SQLITE_OPTIONS


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_a_statement_run_a_sixth_time_is_prepared_on_the_server():
    from apps.tenants.models import Application

    for _ in range(6):
        list(Application.objects.filter(slug="not-there"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]

    assert any('FROM "tenants_application"' in statement for statement in prepared)
