import pytest
from django.core.management import CommandError, call_command

from apps.catalog.loader import catalog_dirs
from apps.catalog.models import Provider
from apps.catalog.schema import CatalogError
from apps.catalog.services import catalog_sync

from .helpers import MINIMAL_API_KEY, provider_dict, write_provider


def _snapshot():
    return list(
        Provider.objects.order_by("name").values_list(
            "name", "is_enabled", "content_hash", "source_file", "modified_at", "category_index"
        )
    )


@pytest.fixture
def extra_dir(tmp_path, settings):
    extra = tmp_path / "extra"
    extra.mkdir()
    settings.PATCHBAY_CATALOG_DIRS = [*catalog_dirs(), extra]
    return extra


def test_sync_twice_is_idempotent(db, extra_dir):
    write_provider(extra_dir, provider_dict(MINIMAL_API_KEY))
    first = catalog_sync()
    assert first.created == ["acme-keys"]
    before = _snapshot()
    second = catalog_sync()
    assert second.changed is False
    assert second.created == second.updated == second.disabled == []
    assert second.unchanged == len(before)
    assert _snapshot() == before


def test_sync_creates_provider_with_query_columns(db, extra_dir):
    write_provider(extra_dir, provider_dict(categories=["crm", "accounting"]))
    catalog_sync()
    provider = Provider.objects.get(name="acme-crm")
    assert provider.is_enabled and provider.auth_type == "oauth2"
    assert provider.category_index == ",crm,accounting,"
    assert provider.required_setting_names == ["subdomain"]
    assert provider.source_file == str(extra_dir / "acme-crm.yaml")


def test_changed_file_updates_provider(db, extra_dir):
    path = write_provider(extra_dir, provider_dict(MINIMAL_API_KEY))
    catalog_sync()
    write_provider(extra_dir, provider_dict(MINIMAL_API_KEY, display_name="Acme Keys v2"))
    result = catalog_sync()
    assert result.updated == ["acme-keys"] and result.changed
    assert Provider.objects.get(name="acme-keys").display_name == "Acme Keys v2"
    assert path.exists()


def test_removed_file_disables_but_keeps_provider(db, extra_dir):
    path = write_provider(extra_dir, provider_dict(MINIMAL_API_KEY))
    catalog_sync()
    path.unlink()
    result = catalog_sync()
    assert result.disabled == ["acme-keys"]
    provider = Provider.objects.get(name="acme-keys")
    assert provider.is_enabled is False
    assert catalog_sync().changed is False
    # Restoring the file re-enables the same row.
    write_provider(extra_dir, provider_dict(MINIMAL_API_KEY))
    assert catalog_sync().updated == ["acme-keys"]
    assert Provider.objects.get(name="acme-keys").pk == provider.pk
    assert Provider.objects.get(name="acme-keys").is_enabled


def test_broken_catalog_changes_nothing(db, extra_dir):
    before = _snapshot()
    write_provider(extra_dir, provider_dict(MINIMAL_API_KEY, color="teal"))
    with pytest.raises(CatalogError) as excinfo:
        catalog_sync()
    assert "acme-keys.yaml" in str(excinfo.value)
    assert _snapshot() == before


def test_load_catalog_command_reports_counts(db, capsys):
    call_command("load_catalog")
    out = capsys.readouterr().out
    assert "created" in out and "unchanged" in out


def test_load_catalog_command_reports_broken_file_cleanly(db, extra_dir):
    write_provider(extra_dir, provider_dict(MINIMAL_API_KEY, website="http://acme.example.com"))
    with pytest.raises(CommandError) as excinfo:
        call_command("load_catalog")
    message = str(excinfo.value)
    assert message.startswith("Catalog is invalid:")
    assert "acme-keys.yaml" in message and "website" in message
