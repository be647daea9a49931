import copy

import pytest
import yaml
from django.conf import settings

from apps.catalog.loader import catalog_dirs, load_provider_file
from apps.catalog.schema import (
    CATEGORIES,
    SANDBOX_REFRESH_GRACE,
    CatalogError,
    template_setting_names,
    validate_provider,
)

from .helpers import MINIMAL_API_KEY, MINIMAL_OAUTH, provider_dict, write_provider

SHIPPED_FILES = sorted(path for directory in catalog_dirs() for path in directory.glob("*.y*ml"))


def test_catalog_directory_ships_files():
    assert len(SHIPPED_FILES) >= 300


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=lambda p: p.stem)
def test_every_shipped_file_validates(path):
    definition = load_provider_file(path).definition
    assert definition["name"] == path.stem
    assert set(definition["categories"]) <= set(CATEGORIES)
    assert definition["description"].strip()
    assert definition["website"].startswith("https://")
    if definition["auth_type"] == "oauth2":
        assert definition["oauth"]["authorize_url"] and definition["oauth"]["token_url"]
    if definition["auth_type"] in {"api_key", "basic"}:
        assert definition["credentials"]["fields"]
    # Settings used in OAuth URLs or scopes must be known before redirecting, so they are asked first
    # (or have a default).
    assert definition["sources"], "every catalog entry says where its facts come from"
    for source in definition["sources"]:
        if source.startswith("repo:"):
            assert (settings.BASE_DIR / source.removeprefix("repo:")).is_file(), source
    by_name = {s["name"]: s for s in definition["settings"]}
    for name in template_setting_names(definition):
        assert by_name[name]["ask_before_authorize"] or by_name[name]["default"] is not None, name


def test_minimal_definitions_are_valid_and_normalised():
    oauth = validate_provider(provider_dict(), source="t.yaml")
    assert oauth["stage"] == "ga"
    assert oauth["oauth"]["client_auth"] == "body"
    assert oauth["oauth"]["pkce"] is False
    assert oauth["settings"][0]["required"] is True
    assert oauth["verification"]["method"] == "GET" and oauth["verification"]["expect_status"] == [200]
    keys = validate_provider(provider_dict(MINIMAL_API_KEY), source="k.yaml")
    assert keys["oauth"] is None and keys["credentials"]["fields"][0]["secret"] is True


def _error(data, source="bad.yaml") -> CatalogError:
    with pytest.raises(CatalogError) as excinfo:
        validate_provider(data, source=source)
    return excinfo.value


@pytest.mark.parametrize(
    "mutate, field, fragment",
    [
        (lambda d: d.update(unexpected="x"), "unexpected", "unknown key"),
        (lambda d: d["oauth"].update(tokn_url="https://x.example.com"), "oauth.tokn_url", "unknown key"),
        (lambda d: d["scopes"][0].update(kinds="default"), "scopes[0].kinds", "unknown key"),
        (lambda d: d.update(website="not a url"), "website", "absolute http(s) URL"),
        (lambda d: d.update(website="http://acme.example.com"), "website", "must use https"),
        (lambda d: d["oauth"].update(token_url="http://acme.example.com/token"), "oauth.token_url", "https"),
        (
            lambda d: d["oauth"].update(authorize_url="https://{settings.region}.acme.example.com/authorize"),
            "oauth.authorize_url",
            "no setting named 'region'",
        ),
        (lambda d: d.update(color="blue"), "color", "hex colour"),
        (lambda d: d.update(categories="crm"), "categories", "list"),
        (lambda d: d.update(categories=["crm", "astrology"]), "categories[1]", "must be one of"),
        (lambda d: d.update(auth_type="oauth3"), "auth_type", "must be one of"),
        (lambda d: d.update(is_webhooks_supported="yes"), "is_webhooks_supported", "true or false"),
        (lambda d: d["settings"][0].update(type="float"), "settings[0].type", "must be one of"),
        (lambda d: d["settings"][0].update(required="no"), "settings[0].required", "true or false"),
        (lambda d: d["settings"][0].update(name="SubDomain"), "settings[0].name", "snake_case"),
        (lambda d: d["settings"][0].update(pattern="(["), "settings[0].pattern", "regular expression"),
        (lambda d: d["scopes"][0].update(kind="mandatory"), "scopes[0].kind", "must be one of"),
        (lambda d: d["scopes"].append({"scope": "read", "kind": "optional"}), "scopes[1].scope", "duplicate"),
        (lambda d: d["scopes"][0].update(scope="https://{settings.tenant}/.default"), "scopes[0].scope", "tenant"),
        (lambda d: d["verification"].update(expect_status="ok"), "verification.expect_status", "HTTP status"),
        (
            lambda d: d["verification"].update(headers={"X-Unit": "{settings.unit}"}),
            "verification.headers.X-Unit",
            "unit",
        ),
        (lambda d: d["oauth"].update(token_quirks={"rotates": True}), "oauth.token_quirks.rotates", "unknown key"),
        (
            lambda d: d["oauth"].update(token_quirks={"refresh_token_reuse_seconds": -1}),
            "oauth.token_quirks.refresh_token_reuse_seconds",
            "0 or more",
        ),
        (
            lambda d: d["oauth"].update(token_quirks={"refresh_token_reuse_seconds": SANDBOX_REFRESH_GRACE}),
            "oauth.token_quirks.refresh_token_reuse_seconds",
            "unless Patchbay serves the provider",
        ),
        (
            lambda d: d["oauth"].update(token_quirks={"refresh_token_idle_days": "90"}),
            "oauth.token_quirks.refresh_token_idle_days",
            "0 or more",
        ),
        (lambda d: d["oauth"].update(issuer="not a url"), "oauth.issuer", "absolute"),
        (
            lambda d: d["oauth"].update(token_quirks={"settings_from_callback": {"realmId": "realm_id"}}),
            "oauth.token_quirks.settings_from_callback",
            "undeclared setting",
        ),
        (lambda d: d.pop("description"), "description", "is required"),
        (lambda d: d.pop("oauth"), "oauth", "is required"),
        (lambda d: d.update(name="Acme CRM"), "name", "lowercase"),
        (lambda d: d.update(compat={"supaglue_category": "erp"}), "compat.supaglue_category", "must be one of"),
    ],
)
def test_broken_definitions_name_the_file_and_field(mutate, field, fragment):
    data = provider_dict()
    mutate(data)
    error = _error(data)
    assert error.source == "bad.yaml"
    assert error.field == field
    assert fragment in error.message
    assert str(error).startswith(f"bad.yaml: {field}: ")


@pytest.mark.parametrize(
    "spec, field, fragment",
    [
        ({"pattern": "^[a-z0-9-]+$", "example": "acme.example.com"}, "settings[0].example", "its own pattern"),
        ({"pattern": "^[a-z0-9-]+$", "default": "Acme"}, "settings[0].default", "its own pattern"),
        ({"enum": ["eu", "us"], "example": "apac"}, "settings[0].example", "not one of its enum values"),
    ],
)
def test_an_example_or_default_its_own_setting_refuses_names_the_provider_and_setting(spec, field, fragment):
    data = provider_dict()
    data["settings"][0].update(spec)
    error = _error(data)
    assert error.field == field
    assert fragment in error.message
    assert "provider 'acme-crm' setting 'subdomain'" in error.message


def test_a_pattern_matches_the_whole_example_as_the_settings_form_does():
    data = provider_dict()
    data["settings"][0].update(pattern="[a-z]+", example="acme-1")
    assert _error(data).field == "settings[0].example"
    data["settings"][0].update(example="acme")
    assert validate_provider(data, source="t.yaml")["settings"][0]["example"] == "acme"


def test_api_key_providers_cannot_have_oauth_and_vice_versa():
    data = provider_dict(MINIMAL_API_KEY, oauth=copy.deepcopy(MINIMAL_OAUTH["oauth"]))
    assert _error(data).field == "oauth"
    data = provider_dict(credentials=copy.deepcopy(MINIMAL_API_KEY["credentials"]))
    assert _error(data).field == "credentials"


def test_credentials_inject_templates_must_be_declared():
    data = provider_dict(MINIMAL_API_KEY)
    data["credentials"]["inject"]["value"] = "Bearer {credentials.token}"
    assert _error(data).field == "credentials.inject.value"
    data = provider_dict(MINIMAL_API_KEY)
    data["credentials"]["inject"]["value"] = "{settings.account}:{credentials.api_key}"
    assert _error(data).field == "credentials.inject.value"


def test_scope_templates_are_settings_needed_before_authorize():
    data = provider_dict()
    data["settings"].append({"name": "org_host", "type": "string", "label": "Org host"})
    data["scopes"].append({"scope": "https://{settings.org_host}/user_impersonation", "kind": "required"})
    definition = validate_provider(data, source="t.yaml")
    assert template_setting_names(definition) == {"subdomain", "org_host"}


def test_root_must_be_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(CatalogError) as excinfo:
        load_provider_file(path)
    assert excinfo.value.source == str(path) and excinfo.value.field == "(root)"


def test_invalid_yaml_names_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: broken\ndisplay_name: [unclosed\n", encoding="utf-8")
    with pytest.raises(CatalogError) as excinfo:
        load_provider_file(path)
    assert str(path) in str(excinfo.value)
    assert "not valid YAML" in excinfo.value.message


def test_file_name_must_match_name(tmp_path):
    path = write_provider(tmp_path, provider_dict(), file_name="other-name")
    with pytest.raises(CatalogError) as excinfo:
        load_provider_file(path)
    assert excinfo.value.field == "name"
    assert "other-name" in excinfo.value.message


def test_catalog_file_without_sources_is_rejected(tmp_path):
    data = provider_dict()
    del data["sources"]
    path = write_provider(tmp_path, data)
    with pytest.raises(CatalogError) as excinfo:
        load_provider_file(path)
    assert excinfo.value.source == str(path) and excinfo.value.field == "sources"


@pytest.mark.parametrize(
    "sources", [[], "https://acme.example.com/docs", ["not a url"], ["http://acme.example.com/docs"]]
)
def test_sources_must_be_a_list_of_https_pages(sources):
    error = _error(provider_dict(sources=sources))
    assert error.field.startswith("sources")


def test_readme_examples_are_valid_catalog_files(tmp_path):
    readme = (settings.BASE_DIR / "README.md").read_text(encoding="utf-8")
    section = readme.split("### File format", 1)[1].split("### A private provider", 1)[0]
    oauth_example, key_example = [block.split("```", 1)[0] for block in section.split("```yaml\n")[1:3]]
    path = tmp_path / "acme-crm.yaml"
    path.write_text(oauth_example, encoding="utf-8")
    oauth = load_provider_file(path).definition
    assert oauth["oauth"]["token_quirks"]["settings_from_callback"] == {"accountId": "account_id"}
    data = yaml.safe_load(oauth_example)
    for key in ("oauth", "scopes"):
        del data[key]
    data.update(yaml.safe_load(key_example))
    keys = validate_provider(data, source="README api_key example")
    assert keys["credentials"]["inject"]["value"] == "Bearer {credentials.api_key}"
