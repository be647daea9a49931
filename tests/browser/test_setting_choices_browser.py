"""A person picks Business Central-style settings in a real Chromium: environments, then that environment's
companies (reloaded by htmx when the environment changes), against a local server shaped like BC's API."""

import textwrap

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from apps.connect.services import customer_portal_link
from apps.connections.models import Connection
from apps.connections.services import connection_create
from tests.connect.test_setting_options import COMPANIES, ERP_YAML, SANDBOX_CO
from tests.factories import ConnectorConfigFactory, provider_for
from tests.provider_server import running_fake_provider

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def erp_api():
    with running_fake_provider() as provider:
        provider.on("GET", "/environments/v1.1", body={"value": [{"name": "Production"}, {"name": "Sandbox"}]})
        for environment, companies in COMPANIES.items():
            provider.on("GET", f"/v2.0/{environment}/api/v2.0/companies", body={"value": companies})
        yield provider


def test_person_picks_an_environment_then_one_of_its_companies(
    live, settings, tmp_path, erp_api, sandbox_app, sandbox_customer, page, screenshot
):
    (tmp_path / "erp-like-bc.yaml").write_text(textwrap.dedent(ERP_YAML.format(server=erp_api.url)))
    settings.PATCHBAY_CATALOG_DIRS = [*settings.PATCHBAY_CATALOG_DIRS, tmp_path]
    call_command("load_catalog", verbosity=0)
    provider = provider_for("erp-like-bc")
    ConnectorConfigFactory(application=sandbox_app, provider=provider)
    connection = connection_create(application=sandbox_app, customer=sandbox_customer, provider=provider)
    Connection.objects.filter(pk=connection.pk).update(is_authentication_pending=False)
    connection.refresh_from_db()
    connection.credentials = {"type": "oauth2", "access_token": "at-erp", "refresh_token": "rt-erp"}
    connection.save(update_fields=["credentials"])

    page.goto(customer_portal_link(customer=sandbox_customer, ttl=600))
    page.goto(f"{live.url}/connect/setup/{connection.pk}/")
    expect(page.get_by_label("Environment").locator("option")).to_have_text(["Choose…", "Production", "Sandbox"])
    expect(page.get_by_label("Company").locator("option")).to_have_text(["Choose the setting above first"])

    page.get_by_label("Environment").select_option("Production")
    expect(page.get_by_label("Company").locator("option")).to_have_text(["Choose…", "CRONUS USA, Inc.", "Fabrikam"])
    # htmx wires the swapped-in field up once it has settled; a person never changes it faster than that.
    expect(page.locator("#field-company.htmx-settling")).to_have_count(0)
    page.wait_for_timeout(200)
    page.get_by_label("Environment").select_option("Sandbox")
    expect(page.get_by_label("Company").locator("option")).to_have_text(["Choose…", "Test company"])
    screenshot("settings-dependent-choice")
    page.get_by_label("Company").select_option(SANDBOX_CO)
    page.get_by_role("button", name="Save settings").click()

    expect(page.get_by_role("heading", name="Connected")).to_be_visible()
    connection.refresh_from_db()
    assert connection.settings == {"environment": "Sandbox", "company": SANDBOX_CO, "company_name": "Test company"}
