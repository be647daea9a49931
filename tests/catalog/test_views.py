import pytest
import simple_icons_pack
from django.urls import reverse

from apps.catalog.loader import load_catalog_files
from apps.catalog.models import Provider
from apps.catalog.schema import SIMPLE_ICONS_PREFIX
from apps.catalog.selectors import provider_get, provider_list
from apps.catalog.views import brand_icon_svg
from tests.factories import provider_for


@pytest.fixture(scope="module")
def shipped_definitions():
    return [f.definition for f in load_catalog_files()]


def test_logo_is_the_simple_icons_glyph_on_the_brand_colour(client, db):
    hubspot = provider_for("hubspot")
    assert hubspot.definition["logo"] == "simple-icons:hubspot"
    response = client.get(hubspot.logo_url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    body = response.content.decode()
    assert body.startswith("<svg") and body.endswith("</svg>")
    assert f'fill="#{simple_icons_pack.get_icon("hubspot").hex}"'.upper() in body.upper()
    assert "<path d=" in body and "<text" not in body


def test_logo_without_a_brand_icon_is_an_svg_monogram_in_brand_colour(client, db):
    salesforce = provider_for("salesforce")
    assert salesforce.definition["logo"] is None
    body = client.get(salesforce.logo_url).content.decode()
    assert body.startswith("<svg") and salesforce.definition["color"] in body
    assert ">SA<" in body


def test_logo_of_two_word_provider_uses_initials(client, db):
    body = client.get(reverse("catalog:logo", args=["microsoft-365"])).content.decode()
    assert ">M3<" in body and provider_for("microsoft-365").definition["color"] in body


def test_every_brand_icon_in_the_catalog_renders(shipped_definitions):
    with_icons = [d for d in shipped_definitions if (d["logo"] or "").startswith(SIMPLE_ICONS_PREFIX)]
    assert len(with_icons) >= 100
    for definition in with_icons:
        slug = definition["logo"].removeprefix(SIMPLE_ICONS_PREFIX)
        assert brand_icon_svg(slug=slug, label="x", color=definition["color"]), definition["name"]


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
