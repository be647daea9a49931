"""The catalog at 1,000 files: loaded and synced in a few seconds, and a second sync changes nothing."""

import time

import pytest

from apps.catalog.models import Provider
from apps.catalog.services import catalog_sync

from .helpers import write_synthetic_catalog

FILES = 1_000
SECONDS_ALLOWED = 30  # "a few seconds" on a quiet machine; generous because CI shares two cores


@pytest.mark.django_db
def test_one_thousand_files_load_quickly_and_idempotently(tmp_path, settings):
    write_synthetic_catalog(tmp_path, FILES)
    settings.PATCHBAY_CATALOG_DIRS = [tmp_path]

    started = time.perf_counter()
    first = catalog_sync()
    first_seconds = time.perf_counter() - started
    started = time.perf_counter()
    second = catalog_sync()
    second_seconds = time.perf_counter() - started
    print(f"\ncatalog_sync of {FILES} files: first {first_seconds:.2f}s, unchanged re-run {second_seconds:.2f}s")

    assert len(first.created) == FILES
    assert not second.changed and second.unchanged == FILES
    assert Provider.objects.filter(name__startswith="synthetic-", is_enabled=True).count() == FILES
    assert first_seconds < SECONDS_ALLOWED and second_seconds < SECONDS_ALLOWED
