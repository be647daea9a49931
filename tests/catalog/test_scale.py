"""The catalog at 1,000 files: loaded and synced in a few seconds, and a second sync changes nothing.

"A few seconds" is checked as work rather than wall-clock time, which on a loaded two-core machine
measures the neighbours: the statements each sync sends (the database's share) and the CPU time of this
process (the parsing, hashing and comparing; time.process_time does not count while other processes
hold the cores).
"""

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.catalog.models import Provider
from apps.catalog.services import catalog_sync

from .helpers import write_synthetic_catalog

FILES = 1_000
# Idle, a sync of 1,000 files takes 0.8-1.4 s of CPU here: room for a slower core, and per-file work gone
# quadratic still fails.
CPU_SECONDS_ALLOWED = 10
# Besides one write per provider created or disabled: the read of the existing providers and the
# transaction's savepoint and release.
FIXED_STATEMENTS = 3


def timed_sync():
    started = time.process_time()
    with CaptureQueriesContext(connection) as ctx:
        result = catalog_sync()
    return result, time.process_time() - started, [q["sql"] for q in ctx.captured_queries]


def writes(statements: list[str], *verbs: str) -> list[str]:
    return [sql for sql in statements if sql.lstrip().upper().startswith(verbs or ("INSERT", "UPDATE", "DELETE"))]


@pytest.mark.django_db
def test_one_thousand_files_load_quickly_and_idempotently(tmp_path, settings):
    write_synthetic_catalog(tmp_path, FILES)
    settings.PATCHBAY_CATALOG_DIRS = [tmp_path]
    loaded_before = Provider.objects.filter(is_enabled=True).count()  # the real catalog, not in tmp_path

    first, first_cpu, first_statements = timed_sync()
    second, second_cpu, second_statements = timed_sync()
    print(
        f"\ncatalog_sync of {FILES} files: first {first_cpu:.2f}s CPU, {len(first_statements)} statements; "
        f"unchanged re-run {second_cpu:.2f}s CPU, {len(second_statements)} statements"
    )

    assert len(first.created) == FILES
    assert not second.changed and second.unchanged == FILES
    assert Provider.objects.filter(name__startswith="synthetic-", is_enabled=True).count() == FILES
    assert len(writes(first_statements, "INSERT")) == FILES
    assert len(writes(first_statements)) == FILES + loaded_before
    assert len(first_statements) <= FILES + loaded_before + FIXED_STATEMENTS
    assert writes(second_statements) == [] and len(second_statements) <= FIXED_STATEMENTS
    assert first_cpu < CPU_SECONDS_ALLOWED and second_cpu < CPU_SECONDS_ALLOWED
