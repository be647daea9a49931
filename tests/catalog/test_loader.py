from collections import Counter
from pathlib import Path

import pytest

from apps.catalog.loader import catalog_dirs, load_catalog_files
from apps.catalog.schema import AUTH_TYPES, CatalogError

from .helpers import MINIMAL_API_KEY, provider_dict, write_provider

SUPAGLUE_PROVIDER_NAMES = {
    "hubspot": "crm",
    "salesforce": "crm",
    "pipedrive": "crm",
    "zendesk_sell": "crm",
    "ms_dynamics_365_sales": "crm",
    "zoho_crm": "crm",
    "capsule": "crm",
    "outreach": "engagement",
    "gong": "engagement",
    "apollo": "engagement",
    "salesloft": "engagement",
    "intercom": "no_category",
    "linear": "no_category",
    "clearbit": "enrichment",
    "6sense": "enrichment",
    "marketo": "marketing_automation",
    "salesforce_marketing_cloud_account_engagement": "marketing_automation",
    "slack": "no_category",
}


@pytest.fixture(scope="module")
def shipped():
    return {f.definition["name"]: f.definition for f in load_catalog_files()}


def test_catalog_has_300_providers_across_auth_types_and_categories(shipped):
    assert len(shipped) >= 300
    by_auth_type = Counter(d["auth_type"] for d in shipped.values())
    assert all(by_auth_type[auth_type] >= 30 for auth_type in AUTH_TYPES), by_auth_type
    by_category = Counter(c for d in shipped.values() for c in d["categories"])
    asked_first = {
        "crm", "accounting", "hris", "ats", "ticketing", "marketing_automation", "communication", "ecommerce",
        "file_storage", "calendar", "developer_tools", "analytics", "payments",
    }  # fmt: skip
    assert all(by_category[category] >= 5 for category in asked_first), by_category


def test_every_supaglue_provider_is_mapped_exactly_once(shipped):
    mapped = Counter(
        d["compat"]["supaglue_provider_name"] for d in shipped.values() if d["compat"].get("supaglue_provider_name")
    )
    assert set(mapped) == set(SUPAGLUE_PROVIDER_NAMES)
    assert all(count == 1 for count in mapped.values()), mapped
    for definition in shipped.values():
        name = definition["compat"].get("supaglue_provider_name")
        if name:
            assert definition["compat"]["supaglue_category"] == SUPAGLUE_PROVIDER_NAMES[name], name


def test_required_providers_are_present(shipped):
    required = {
        "ms-dynamics-bc", "bill", "accelo", "google", "microsoft-365", "github", "slack", "notion", "airtable",
        "shopify", "quickbooks", "xero", "stripe", "zendesk", "jira", "asana", "dropbox", "box", "zoom",
        "freshdesk", "mailchimp", "docusign", "salesforce",
    }  # fmt: skip
    assert required <= set(shipped)


def test_business_central_has_the_stuut_settings(shipped):
    settings = {s["name"]: s for s in shipped["ms-dynamics-bc"]["settings"]}
    assert set(settings) == {
        "tenant_id", "environment", "company", "company_name", "api_url",
        "is_on_premise", "include_dimension_lines", "is_bc_extension_installed",
    }  # fmt: skip
    assert settings["environment"]["required"] and settings["company"]["required"]
    assert settings["api_url"]["type"] == "url" and not settings["api_url"]["required"]
    for flag in ("is_on_premise", "include_dimension_lines", "is_bc_extension_installed"):
        assert settings[flag]["type"] == "boolean"
        assert settings[flag]["required"] is False and settings[flag]["default"] is False
    scopes = {s["scope"] for s in shipped["ms-dynamics-bc"]["scopes"]}
    assert {"https://api.businesscentral.dynamics.com/.default", "offline_access"} <= scopes


def test_provider_quirks_are_declared(shipped):
    slack = shipped["slack"]["oauth"]
    assert slack["scope_separator"] == "," and slack["token_quirks"]["error_field_when_ok"] == "ok"
    assert shipped["quickbooks"]["oauth"]["token_quirks"]["settings_from_callback"] == {"realmId": "realm_id"}
    assert shipped["salesforce"]["oauth"]["token_quirks"]["settings_from_token"] == {"instance_url": "instance_url"}
    assert shipped["airtable"]["oauth"]["pkce"] and shipped["airtable"]["oauth"]["client_auth"] == "basic"
    assert shipped["notion"]["oauth"]["token_quirks"]["no_refresh_token"]
    assert shipped["google"]["oauth"]["authorize_params"]["access_type"] == "offline"
    assert shipped["dropbox"]["oauth"]["authorize_params"]["token_access_type"] == "offline"
    assert shipped["jira"]["oauth"]["authorize_params"] == {"audience": "api.atlassian.com", "prompt": "consent"}


def test_extra_catalog_directory_is_loaded(tmp_path, settings):
    extra = tmp_path / "extra"
    write_provider(extra, provider_dict(MINIMAL_API_KEY))
    settings.PATCHBAY_CATALOG_DIRS = [*settings.PATCHBAY_CATALOG_DIRS, extra]
    files = {f.definition["name"]: f for f in load_catalog_files()}
    assert "acme-keys" in files and "hubspot" in files
    assert files["acme-keys"].path == extra / "acme-keys.yaml"


def test_duplicate_name_across_directories_is_rejected(tmp_path, settings):
    first, second = tmp_path / "a", tmp_path / "b"
    write_provider(first, provider_dict())
    duplicate = write_provider(second, provider_dict())
    settings.PATCHBAY_CATALOG_DIRS = [first, second]
    with pytest.raises(CatalogError) as excinfo:
        load_catalog_files()
    assert excinfo.value.source == str(duplicate)
    assert "already defined" in excinfo.value.message and str(first) in excinfo.value.message


def test_shipped_name_cannot_be_redefined_in_extra_directory(tmp_path, settings):
    extra = tmp_path / "extra"
    write_provider(extra, provider_dict(name="hubspot"))
    settings.PATCHBAY_CATALOG_DIRS = [*catalog_dirs(), extra]
    with pytest.raises(CatalogError, match="hubspot"):
        load_catalog_files()


def test_broken_file_in_directory_names_file_and_field(tmp_path, settings):
    write_provider(tmp_path, provider_dict(MINIMAL_API_KEY))
    bad = write_provider(tmp_path, provider_dict(name="acme-bad", website="ftp://acme.example.com"))
    settings.PATCHBAY_CATALOG_DIRS = [tmp_path]
    with pytest.raises(CatalogError) as excinfo:
        load_catalog_files()
    assert excinfo.value.source == str(bad) and excinfo.value.field == "website"


def test_missing_directory_is_an_error(tmp_path):
    with pytest.raises(CatalogError, match="does not exist"):
        load_catalog_files([Path(tmp_path / "nope")])
