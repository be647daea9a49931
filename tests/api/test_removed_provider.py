"""A provider whose catalog file is removed is disabled: gone from the API's catalog and not connectable,
while the row (and connections that point at it) stays."""

from apps.catalog.models import Provider
from apps.catalog.services import catalog_sync
from tests.catalog.helpers import MINIMAL_API_KEY, provider_dict, write_provider


def test_removed_file_takes_the_provider_out_of_the_api(api, tmp_path, settings):
    settings.PATCHBAY_CATALOG_DIRS = [*settings.PATCHBAY_CATALOG_DIRS, tmp_path]
    path = write_provider(tmp_path, provider_dict(MINIMAL_API_KEY, name="acme-private"))
    catalog_sync()
    assert api.get("/api/v1/providers/acme-private").status_code == 200

    path.unlink()
    assert catalog_sync().disabled == ["acme-private"]

    assert api.get("/api/v1/providers/acme-private").status_code == 404
    assert "acme-private" not in {p["name"] for p in api.get("/api/v1/providers", search="acme").json()}
    response = api.post(
        "/api/v1/connections",
        {"customer_id": "c-1", "provider": "acme-private", "credentials": {"api_key": "k"}},
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "unknown_provider"
    assert Provider.objects.filter(name="acme-private", is_enabled=False).exists()
