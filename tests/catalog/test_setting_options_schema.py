"""The `options` key of a setting: a request that lists the setting's valid values."""

import pytest

from apps.catalog.schema import CatalogError, validate_provider


def provider_with(settings: list[dict]) -> dict:
    return {
        "name": "listing-provider",
        "display_name": "Listing Provider",
        "description": "A provider whose settings are listed by its API.",
        "categories": ["crm"],
        "auth_type": "api_key",
        "website": "https://listing.example.com",
        "color": "#123456",
        "credentials": {
            "fields": [{"name": "api_key", "label": "API key"}],
            "inject": {"in": "header", "name": "Authorization", "value": "Bearer {credentials.api_key}"},
        },
        "settings": settings,
        "sources": ["https://listing.example.com/docs"],
    }


REGION = {"name": "region", "type": "string", "label": "Region"}


def test_options_are_normalised_with_label_defaulting_to_value():
    definition = validate_provider(
        provider_with([{**REGION, "options": {"url": "https://listing.example.com/regions", "value": "code"}}]),
        source="t",
    )
    assert definition["settings"][0]["options"] == {
        "url": "https://listing.example.com/regions",
        "items": "",
        "value": "code",
        "label": "code",
        "depends_on": None,
        "fills": None,
    }


@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        ({"url": "https://listing.example.com/{settings.region}/teams", "value": "id"}, "url", "depends_on"),
        (
            {"url": "https://listing.example.com/teams", "value": "id", "depends_on": "team"},
            "depends_on",
            "declared before",
        ),
        ({"url": "http://listing.example.com/teams", "value": "id"}, "url", "https"),
        ({"url": "https://listing.example.com/teams"}, "value", "required"),
        ({"url": "https://listing.example.com/teams", "value": "id", "method": "POST"}, "method", "unknown key"),
    ],
)
def test_bad_options_name_the_field(options, field, message):
    settings = [REGION, {"name": "team", "type": "string", "label": "Team", "options": options}]
    with pytest.raises(CatalogError) as error:
        validate_provider(provider_with(settings), source="t")
    assert error.value.field.startswith("settings[1].options") and field in error.value.field
    assert message in error.value.message


def test_a_boolean_or_provider_filled_setting_cannot_list_options():
    options = {"url": "https://listing.example.com/flags", "value": "id"}
    for extra in ({"type": "boolean"}, {"source": "provider"}):
        with pytest.raises(CatalogError, match="options"):
            validate_provider(provider_with([{**REGION, **extra, "options": options}]), source="t")


TEAMS = {"url": "https://listing.example.com/teams", "value": "id", "label": "name"}
TEAM_NAME = {"name": "team_name", "type": "string", "label": "Team name", "required": False}


def test_a_choice_may_fill_an_optional_free_text_setting_declared_anywhere():
    team = {"name": "team", "type": "string", "label": "Team", "options": {**TEAMS, "fills": "team_name"}}
    definition = validate_provider(provider_with([team, TEAM_NAME]), source="t")
    assert definition["settings"][0]["options"]["fills"] == "team_name"


@pytest.mark.parametrize(
    ("fills", "target", "message"),
    [
        ("team_label", {}, "another declared setting"),
        ("team", {}, "another declared setting"),
        ("team_name", {"required": True}, "optional string setting"),
        ("team_name", {"type": "integer"}, "optional string setting"),
        ("team_name", {"source": "provider"}, "optional string setting"),
        ("team_name", {"pattern": "^[a-z]+$"}, "may not have a pattern"),
    ],
)
def test_a_setting_a_choice_fills_must_be_able_to_hold_any_label(fills, target, message):
    team = {"name": "team", "type": "string", "label": "Team", "options": {**TEAMS, "fills": fills}}
    with pytest.raises(CatalogError) as error:
        validate_provider(provider_with([team, {**TEAM_NAME, **target}]), source="t")
    assert error.value.field == "settings[0].options.fills"
    assert message in error.value.message


def test_two_choices_cannot_fill_the_same_setting():
    first = {"name": "team", "type": "string", "label": "Team", "options": {**TEAMS, "fills": "team_name"}}
    second = {**first, "name": "squad", "label": "Squad"}
    with pytest.raises(CatalogError, match="already filled by 'team'") as error:
        validate_provider(provider_with([first, second, TEAM_NAME]), source="t")
    assert error.value.field == "settings[1].options.fills"
