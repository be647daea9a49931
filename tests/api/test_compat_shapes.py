"""Each compatibility endpoint answers with the reference doc's shape: same keys, nesting and value types.

The example JSON (Stuut, OpenInt) and the field list (Supaglue, whose doc has no example) are parsed out
of the reference .txt files at test time, so the docs stay the single source of truth.
"""

import json
import os
import re
from pathlib import Path
from types import SimpleNamespace

import jsonschema_rs
import pytest
from django.conf import settings as django_settings

from apps.connections.models import ConnectionModel, SyncRun
from tests.factories import ConnectionFactory, CustomerFactory, provider_for

pytestmark = pytest.mark.django_db

REFERENCE_DIR = Path(django_settings.BASE_DIR).parent / "shared" / "reference"

# The Stuut doc states nullability only for the top-level fields. These nested values are null in our
# answers when there is nothing to report (a health check that never ran, a sync that has not finished,
# a provider without a guide URL), where the doc's example shows a string.
STUUT_NESTED_NULLABLE = {
    "health.message",
    "health.suggested_resolution",
    "health.timestamp",
    "models[].next_sync_at",
    "models[].last_sync",
    "models[].last_sync.completed_at",
    "models[].last_sync.entity_id",
    "models[].last_sync.error",
    "models[].last_sync.file_id",
    "models[].last_sync.started_at",
    "models[].last_sync.timerange_end",
    "models[].last_sync.timerange_start",
    "models[].last_sync.modified_at",
    "models[].modified_at",
    "provider.connection_guide_url",
    "provider.documentation_url",
}


def reference_text(name: str) -> str:
    path = REFERENCE_DIR / name
    if not path.exists():
        message = f"REFERENCE DOC MISSING: {path} — compat shapes are NOT being checked"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path.read_text()


def example_json(text: str):
    """The first JSON document in the text that starts on a line of its own ("{" or "[")."""
    match = re.search(r"^[\[{]\s*$", text, flags=re.MULTILINE)
    assert match, "no example JSON in the reference doc"
    value, _ = json.JSONDecoder().raw_decode(text[match.start() :])
    return value


def field_list(text: str) -> dict[str, dict]:
    """Top-level fields described after the example: name -> {"nullable": bool, "required": bool}."""
    lines = [line.strip() for line in text.splitlines()]
    fields = {}
    for i, line in enumerate(lines[:-1]):
        type_line = lines[i + 1]
        if re.fullmatch(r"[a-z_]+", line) and re.match(r"^(string|boolean|object|enum|integer|number)", type_line):
            required = i + 2 < len(lines) and lines[i + 2] == "required"
            fields.setdefault(line, {"nullable": "| null" in type_line, "required": required})
    return fields


def assert_same_shape(doc, actual, *, path: str, nullable: set[str], optional: set[str] = frozenset()):
    """Every doc key is present (unless optional), no extra keys, and values have the doc's JSON types."""
    if doc == "<any>":
        return
    if actual is None:
        assert path in nullable, f"{path} is null but the doc does not allow null"
        return
    if isinstance(doc, dict):
        assert isinstance(actual, dict), f"{path}: expected object, got {type(actual).__name__}"
        if not doc:  # free-form object such as metadata / pagination_state
            return
        missing = set(doc) - set(actual) - {k for k in doc if _join(path, k) in optional}
        extra = set(actual) - set(doc) - {k for k in actual if _join(path, k) in optional}
        assert not missing, f"{path}: missing keys {sorted(missing)}"
        assert not extra, f"{path}: keys not in the doc {sorted(extra)}"
        for key, value in actual.items():
            if key in doc:
                assert_same_shape(doc[key], value, path=_join(path, key), nullable=nullable, optional=optional)
    elif isinstance(doc, list):
        assert isinstance(actual, list), f"{path}: expected array, got {type(actual).__name__}"
        if doc:
            for item in actual:
                assert_same_shape(doc[0], item, path=f"{path}[]", nullable=nullable, optional=optional)
    elif isinstance(doc, bool):
        assert isinstance(actual, bool), f"{path}: expected boolean, got {actual!r}"
    elif isinstance(doc, int):
        assert isinstance(actual, int) and not isinstance(actual, bool), f"{path}: expected integer, got {actual!r}"
    elif isinstance(doc, str):
        assert isinstance(actual, str), f"{path}: expected string, got {actual!r}"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


@pytest.fixture
def bc_with_models(bc_connection):
    model = ConnectionModel.objects.create(connection=bc_connection, name="invoices", display_name="Invoices")
    run = SyncRun.objects.create(model=model, status="succeeded", is_initial_sync=True)
    model.last_sync = run
    model.save()
    ConnectionModel.objects.create(connection=bc_connection, name="customers", display_name="Customers")
    return bc_connection


# --- Stuut -------------------------------------------------------------------------------------------


def test_stuut_list_matches_the_reference_shape(api, application, bc_with_models):
    text = reference_text("stuut-list-connections.txt")
    doc = example_json(text)
    nullable = {name for name, spec in field_list(text).items() if spec["nullable"]}
    assert {"owner_id", "linked_integration_id", "authorization_url", "tenant_id"} <= nullable  # parser sanity
    assert "id" not in nullable and "include_dimension_lines" not in nullable
    nullable |= STUUT_NESTED_NULLABLE
    ConnectionFactory(application=application, provider=provider_for("hubspot"))  # not Business Central, pending

    response = api.get("/api/compat/stuut/v2/integrations/connections")
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, list) and len(body) == 2
    for item in body:
        assert_same_shape(doc[0], item, path="", nullable=nullable)


def test_stuut_values(api, application, bc_with_models):
    hubspot = ConnectionFactory(application=application, provider=provider_for("hubspot"))
    rows = {row["id"]: row for row in api.get("/api/compat/stuut/v2/integrations/connections").json()}
    bc = rows[bc_with_models.pk]
    assert bc["provider_name"] == "ms-dynamics-bc" and bc["owner_id"] == "acme-1"
    assert bc["environment"] == "Production" and bc["company_name"] == "Acme Ltd"
    assert bc["include_dimension_lines"] is True and bc["is_on_premise"] is False and bc["api_url"] is None
    assert bc["is_configured"] is True and bc["requires_setup"] is False and bc["authorization_url"] is None
    assert bc["health"]["healthy"] is True and bc["object"] == "integration_connection"
    invoices = next(m for m in bc["models"] if m["name"] == "invoices")
    assert invoices["last_sync"]["status"] == "succeeded" and invoices["last_sync"]["model_id"] == invoices["id"]
    pending = rows[hubspot.pk]
    assert pending["is_authentication_pending"] is True and pending["requires_setup"] is True
    assert "/connect/start/" in pending["authorization_url"]
    assert pending["environment"] is None and pending["is_bc_extension_installed"] is False


# --- OpenInt -----------------------------------------------------------------------------------------


def _openint_spec():
    text = reference_text("openint-get-connection.txt")
    doc = example_json(text)
    fields = field_list(text)
    nullable = {name for name, spec in fields.items() if spec["nullable"]}
    required = {name for name, spec in fields.items() if spec["required"]}
    # settings is documented as an optional object but absent from the example; integration is optional.
    doc = {**doc, "settings": {}}
    optional = (set(doc) | set(fields)) - required
    return SimpleNamespace(doc=doc, nullable=nullable, required=required, optional=optional)


def test_openint_get_matches_the_reference_shape(api, bc_connection):
    spec = _openint_spec()
    assert {"id", "connector_name", "created_at"} <= spec.required  # the parser read the field list

    body = api.get(f"/api/compat/openint/connection/{bc_connection.pk}", expand="connector").json()
    assert spec.required <= set(body)
    assert "connector_name" in body and body["connector_name"] == "ms-dynamics-bc"
    doc_with_connector_name = {**spec.doc, "connector_name": "<string>"}
    assert_same_shape(doc_with_connector_name, body, path="", nullable=spec.nullable, optional=spec.optional)
    assert "connector" in body and body["connector"]["auth_type"] == "OAUTH2"
    assert body["status"] in {"healthy", "disconnected", "error", "manual", "unknown"}


def test_openint_full_key_tree_with_connector_and_integration_expanded(api, bc_connection):
    spec = _openint_spec()
    assert "integration" in spec.doc and "connector" in spec.doc
    body = api.get(f"/api/compat/openint/connection/{bc_connection.pk}", expand=["connector", "integration"]).json()
    assert_same_shape({**spec.doc, "connector_name": "x"}, body, path="", nullable=spec.nullable)
    assert list(body["integration"]) == list(spec.doc["integration"]), "every integration key, in the doc's order"
    assert list(body["connector"]) == list(spec.doc["connector"])
    integration = body["integration"]
    assert body["integration_id"] == integration["id"] == "int_ms-dynamics-bc"
    assert integration["connector_name"] == body["connector_name"] == "ms-dynamics-bc"
    assert integration["name"] == "Microsoft Dynamics 365 Business Central"
    assert integration["auth_type"] == body["connector"]["auth_type"] == "OAUTH2"
    assert integration["stage"] in {"alpha", "beta", "ga"} and integration["version"]
    comma = api.get(f"/api/compat/openint/connection/{bc_connection.pk}", expand="integration,connector").json()
    assert comma == body


def test_openint_expand_rejects_unknown_values(api, bc_connection):
    response = api.get(f"/api/compat/openint/connection/{bc_connection.pk}", expand="owner")
    assert response.status_code == 422


def test_openint_connector_schemas_are_json_schemas_that_fit_real_values(api, bc_connection):
    body = api.get(
        f"/api/compat/openint/connection/{bc_connection.pk}", expand="connector", include_secrets="true"
    ).json()
    schemas = body["connector"]["schemas"]
    for name in ("connection_settings", "connector_config"):
        jsonschema_rs.meta.validate(schemas[name])
    settings_validator = jsonschema_rs.Draft202012Validator(schemas["connection_settings"], validate_formats=True)
    assert list(settings_validator.iter_errors(body["settings"])) == []
    assert {"tenant_id", "environment", "company"} <= set(schemas["connection_settings"]["properties"])
    assert not settings_validator.is_valid({**body["settings"], "tenant_id": "not-a-uuid"})
    config_validator = jsonschema_rs.Draft202012Validator(schemas["connector_config"])
    assert config_validator.is_valid({"client_id": "id", "client_secret": "s"})
    assert not config_validator.is_valid({"client_id": "id"}), "client_secret is required for OAuth"
    assert not config_validator.is_valid({"client_id": "id", "client_secret": "s", "scopes": ["nope"]})
    assert all(schemas[k] is None for k in schemas if k not in {"connection_settings", "connector_config"})


def test_openint_get_without_expand_omits_connector(api, bc_connection):
    spec = _openint_spec()
    body = api.get(f"/api/compat/openint/connection/{bc_connection.pk}").json()
    assert "connector" not in body
    assert_same_shape(
        {**spec.doc, "connector_name": "x"}, body, path="", nullable=spec.nullable, optional=spec.optional
    )


def test_openint_list_is_paged_items_of_the_same_shape(api, application, bc_connection):
    spec = _openint_spec()
    ConnectionFactory(application=application, provider=provider_for("hubspot"))
    page = api.get("/api/compat/openint/connection", limit=1, expand="connector").json()
    assert set(page) == {"items", "total", "total_is_exact", "limit", "offset"}
    assert (
        page["total"] == 2
        and page["total_is_exact"]
        and page["limit"] == 1
        and page["offset"] == 0
        and len(page["items"]) == 1
    )
    for item in page["items"]:
        assert_same_shape(
            {**spec.doc, "connector_name": "x"}, item, path="", nullable=spec.nullable, optional=spec.optional
        )
    second = api.get("/api/compat/openint/connection", limit=1, offset=1).json()["items"]
    assert second[0]["id"] != page["items"][0]["id"]
    filtered = api.get("/api/compat/openint/connection", connector_names="hubspot").json()
    assert [i["connector_name"] for i in filtered["items"]] == ["hubspot"]
    assert api.get("/api/compat/openint/connection", customer_id="acme-1").json()["total"] == 1


# --- Supaglue ----------------------------------------------------------------------------------------


def _supaglue_spec():
    text = reference_text("supaglue-list-connections.txt")
    schema = text[text.index("\nSchema") :]  # skip the path parameters
    fields = {}
    line_pattern = r"^[\s\u2022]*(\w+) (\w+?(?:\[\])?)(required|deprecated)?\s*$"
    for name, kind, flags in re.findall(line_pattern, schema, re.MULTILINE):
        if name == "schema_mappings_config":
            fields[name] = {"required": False}
            break
        fields[name] = {"required": flags == "required", "type": kind}
    enum_pattern = r"^[\s\u2022]*(\w+) \w+required\s*\n\s*\n?\s*Possible values: \[([^\]]+)\]"
    enums = dict(re.findall(enum_pattern, schema, re.MULTILINE))
    enums = {k: {v.strip() for v in values.split(",")} for k, values in enums.items()}
    optional = {"schema_mappings_config", "entity_mappings", "connection_sync_config"}
    return fields, enums, optional


def test_supaglue_list_matches_the_reference_fields(api, application, customer):
    fields, enums, optional = _supaglue_spec()
    assert {"id", "application_id", "customer_id", "provider_id", "provider_name", "category", "instance_url"} <= set(
        fields
    )
    assert "hubspot" in enums["provider_name"] and "no_category" in enums["category"]
    hubspot = ConnectionFactory(application=application, customer=customer, provider=provider_for("hubspot"))
    clearbit = ConnectionFactory(application=application, customer=customer, provider=provider_for("clearbit"))
    ConnectionFactory(application=application, customer=customer, provider=provider_for("ms-dynamics-bc"))
    ConnectionFactory(application=application, provider=provider_for("hubspot"))  # another customer

    body = api.get(f"/api/compat/supaglue/customers/{customer.external_id}/connections").json()
    assert {row["id"] for row in body} == {hubspot.pk, clearbit.pk}  # BC has no Supaglue provider name
    for row in body:
        required = {name for name, spec in fields.items() if spec["required"]}
        assert required <= set(row) <= required | optional
        for name in required:
            assert isinstance(row[name], str) and row[name], name
        assert row["provider_name"] in enums["provider_name"]
        assert row["category"] in enums["category"]
        assert row["customer_id"] == customer.external_id and row["application_id"] == application.pk


def test_supaglue_instance_url_prefers_the_connection_setting(api, application, customer):
    connection = ConnectionFactory(
        application=application,
        customer=customer,
        provider=provider_for("salesforce"),
        settings={"instance_url": "https://acme.my.salesforce.com"},
    )
    body = api.get(f"/api/compat/supaglue/customers/{customer.external_id}/connections").json()
    assert [(r["id"], r["instance_url"]) for r in body] == [(connection.pk, "https://acme.my.salesforce.com")]


def test_supaglue_unknown_or_foreign_customer_is_404(api, other_application):
    CustomerFactory(application=other_application, external_id="theirs")
    assert api.get("/api/compat/supaglue/customers/theirs/connections").status_code == 404
    assert api.get("/api/compat/supaglue/customers/nobody/connections").status_code == 404
