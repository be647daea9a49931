import pytest
from django.urls import reverse

from apps.catalog.models import Provider
from apps.catalog.selectors import provider_get, provider_list
from tests.factories import provider_for


def test_logo_is_svg_monogram_in_brand_colour(client, db):
    hubspot = provider_for("hubspot")
    response = client.get(hubspot.logo_url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    body = response.content.decode()
    assert body.startswith("<svg")
    assert hubspot.definition["color"] in body
    assert ">HU<" in body


def test_logo_of_two_word_provider_uses_initials(client, db):
    body = client.get(reverse("catalog:logo", args=["google"])).content.decode()
    assert ">GW<" in body and provider_for("google").definition["color"] in body


def test_logo_for_unknown_provider_is_404(client, db):
    assert client.get(reverse("catalog:logo", args=["no-such-provider"])).status_code == 404


def test_logo_is_served_for_disabled_provider(client, db):
    provider = provider_for("box")
    Provider.objects.filter(pk=provider.pk).update(is_enabled=False)
    assert client.get(provider.logo_url).status_code == 200


def test_provider_list_filters(db):
    provider_for("hubspot")
    names = set(provider_list().values_list("name", flat=True))
    assert len(names) >= 45
    assert {"hubspot", "ms-dynamics-bc"} <= names

    assert set(provider_list(search="sales").values_list("name", flat=True)) >= {
        "salesforce",
        "salesloft",
        "ms-dynamics-365-sales",
    }
    assert "hubspot" in provider_list(search="HubSp").values_list("name", flat=True)

    crm = set(provider_list(category="crm").values_list("name", flat=True))
    assert {"hubspot", "salesforce", "pipedrive"} <= crm
    assert "slack" not in crm

    api_key = provider_list(auth_type="api_key")
    assert api_key.exists() and all(p.auth_type == "api_key" for p in api_key)
    assert {"freshdesk", "bamboohr"} <= set(api_key.values_list("name", flat=True))

    combined = set(provider_list(category="accounting", auth_type="oauth2").values_list("name", flat=True))
    assert {"quickbooks", "xero", "ms-dynamics-bc"} <= combined and "bill" not in combined


def test_disabled_providers_are_hidden_unless_asked(db):
    provider = provider_for("front")
    Provider.objects.filter(pk=provider.pk).update(is_enabled=False)
    assert "front" not in provider_list().values_list("name", flat=True)
    assert "front" in provider_list(enabled_only=False).values_list("name", flat=True)
    assert provider_get(name="front") is None
    assert provider_get(name="front", enabled_only=False) is not None


@pytest.mark.parametrize("category", ["crm", "accounting", "ticketing"])
def test_category_filter_matches_whole_category_only(db, category):
    provider_for("hubspot")
    for provider in provider_list(category=category):
        assert category in provider.categories
