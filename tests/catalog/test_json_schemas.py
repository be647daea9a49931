import jsonschema_rs
import pytest

from apps.catalog.json_schemas import connection_settings_schema, connector_config_schema
from apps.catalog.models import Provider

pytestmark = pytest.mark.django_db


def test_every_catalog_entry_yields_valid_json_schemas():
    providers = list(Provider.objects.all())
    assert len(providers) > 100
    for provider in providers:
        settings_schema = connection_settings_schema(provider)
        jsonschema_rs.meta.validate(settings_schema)
        jsonschema_rs.meta.validate(connector_config_schema(provider))
        assert set(settings_schema["required"]) <= set(settings_schema["properties"]), provider.name
