"""Settings the customer picks: the provider lists the valid values with the fresh token when the form renders.

Against a local server shaped like Business Central's API (environments, then the companies of the chosen
environment) and against the built-in sandbox over real HTTP.
"""

import re
import textwrap

import pytest
from django.core.management import call_command

from apps.connect.links import authorization_url
from apps.connections.models import Connection
from apps.connections.services import connection_create
from tests.connect.flow import form_fields
from tests.factories import ConnectorConfigFactory, provider_for
from tests.provider_server import running_fake_provider

ERP_YAML = """\
name: erp-like-bc
display_name: ERP Like BC
description: A provider whose settings are listed by its API, shaped like Business Central's.
categories: [accounting]
auth_type: oauth2
website: https://erp.example.com
color: "#00B7C3"
oauth:
  authorize_url: "{server}/authorize"
  token_url: "{server}/token"
scopes:
  - scope: api
    kind: required
settings:
  - name: environment
    type: string
    label: Environment
    pattern: "^[A-Za-z0-9_-]{{1,30}}$"
    options:
      url: "{server}/environments/v1.1"
      items: value
      value: name
  - name: company
    type: string
    label: Company
    pattern: "^[0-9a-f-]{{36}}$"
    options:
      url: "{server}/v2.0/{{settings.environment}}/api/v2.0/companies"
      items: value
      value: id
      label: name
      depends_on: environment
      fills: company_name
  - name: company_name
    type: string
    label: Company name
    required: false
sources:
  - https://learn.microsoft.com/dynamics365/business-central/dev-itpro/webservices/api-get-environments
"""

CRONUS = "824820a2-508c-ed11-aada-000d3a298ab3"
FABRIKAM = "3496bbf8-fcae-4e48-a4f8-cb17c27de0b3"
SANDBOX_CO = "f1678e37-e50b-ef11-9f8e-6045bdc8c192"
COMPANIES = {
    "Production": [{"id": CRONUS, "name": "CRONUS USA, Inc.", "displayName": ""}, {"id": FABRIKAM, "name": "Fabrikam"}],
    "Sandbox": [{"id": SANDBOX_CO, "name": "Test company", "displayName": "Test company"}],
}


@pytest.fixture
def erp_api():
    with running_fake_provider() as provider:
        provider.on(
            "GET",
            "/environments/v1.1",
            body={"value": [{"name": "Production", "type": "Production"}, {"name": "Sandbox", "type": "Sandbox"}]},
        )
        for environment, companies in COMPANIES.items():
            provider.on("GET", f"/v2.0/{environment}/api/v2.0/companies", body={"value": companies})
        yield provider


@pytest.fixture
def erp_connection(db, settings, tmp_path, erp_api, application, customer):
    (tmp_path / "erp-like-bc.yaml").write_text(textwrap.dedent(ERP_YAML.format(server=erp_api.url)))
    settings.PATCHBAY_CATALOG_DIRS = [*settings.PATCHBAY_CATALOG_DIRS, tmp_path]
    call_command("load_catalog", verbosity=0)
    provider = provider_for("erp-like-bc")
    ConnectorConfigFactory(application=application, provider=provider)
    connection = connection_create(application=application, customer=customer, provider=provider)
    Connection.objects.filter(pk=connection.pk).update(is_authentication_pending=False)
    connection.refresh_from_db()
    connection.credentials = {"type": "oauth2", "access_token": "at-erp", "refresh_token": "rt-erp"}
    connection.save(update_fields=["credentials"])
    return connection


def granted_client(client, connection):
    session = client.session
    session["patchbay_connect_grants"] = {connection.pk: {"app": connection.application_id, "return_url": ""}}
    session.save()
    return client


def select_options(html: str, name: str) -> list[tuple[str, str]]:
    select = re.search(rf'<select id="id_{name}"[^>]*>(.*?)</select>', html, re.S)
    assert select, f"no <select> for {name}"
    return [(v, label) for v, label in re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select.group(1))]


def test_environments_are_listed_and_companies_wait_for_the_environment(client, erp_connection, erp_api):
    page = granted_client(client, erp_connection).get(f"/connect/setup/{erp_connection.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    environments = [("", "Choose…"), ("Production", "Production"), ("Sandbox", "Sandbox")]
    assert select_options(html, "environment") == environments
    assert select_options(html, "company") == [("", "Choose the setting above first")]
    assert f'hx-get="/connect/setup/{erp_connection.pk}/choices/company"' in html
    assert 'hx-trigger="change from:#id_environment"' in html
    [listed] = erp_api.calls("/environments/v1.1")
    assert listed.headers["Authorization"] == "Bearer at-erp"
    assert erp_api.calls("/v2.0/Production/api/v2.0/companies") == []


def test_companies_follow_the_chosen_environment(client, erp_connection, erp_api):
    client = granted_client(client, erp_connection)
    url = f"/connect/setup/{erp_connection.pk}/choices/company"

    production = client.get(url, {"environment": "Production"}).content.decode()
    assert select_options(production, "company") == [
        ("", "Choose…"),
        (CRONUS, "CRONUS USA, Inc."),
        (FABRIKAM, "Fabrikam"),
    ]
    sandbox = client.get(url, {"environment": "Sandbox"}).content.decode()
    assert select_options(sandbox, "company") == [("", "Choose…"), (SANDBOX_CO, "Test company")]
    assert erp_api.calls("/v2.0/Sandbox/api/v2.0/companies")[0].headers["Authorization"] == "Bearer at-erp"

    saved = client.post(f"/connect/setup/{erp_connection.pk}/", {"environment": "Sandbox", "company": SANDBOX_CO})
    assert saved.status_code == 302 and saved["Location"] == f"/connect/done/{erp_connection.pk}/"
    erp_connection.refresh_from_db()
    assert erp_connection.settings == {"environment": "Sandbox", "company": SANDBOX_CO, "company_name": "Test company"}


def test_the_chosen_companys_name_fills_company_name_and_follows_a_new_choice(client, erp_connection, erp_api):
    client = granted_client(client, erp_connection)
    form = client.get(f"/connect/setup/{erp_connection.pk}/").content.decode()
    assert 'name="company_name"' not in form  # filled from the choice, never asked for
    client.post(f"/connect/setup/{erp_connection.pk}/", {"environment": "Production", "company": FABRIKAM})
    erp_connection.refresh_from_db()
    assert erp_connection.settings["company_name"] == "Fabrikam"

    listed = len(erp_api.calls("/v2.0/Production/api/v2.0/companies"))
    client.post(f"/connect/setup/{erp_connection.pk}/", {"environment": "Production", "company": FABRIKAM})
    assert len(erp_api.calls("/v2.0/Production/api/v2.0/companies")) == listed  # same choice: not asked again

    client.post(f"/connect/setup/{erp_connection.pk}/", {"environment": "Production", "company": CRONUS})
    erp_connection.refresh_from_db()
    assert erp_connection.settings["company_name"] == "CRONUS USA, Inc."


def test_a_saved_environment_lists_its_companies_on_the_first_render(client, erp_connection, erp_api):
    Connection.objects.filter(pk=erp_connection.pk).update(settings={"environment": "Production"})
    html = granted_client(client, erp_connection).get(f"/connect/setup/{erp_connection.pk}/").content.decode()
    assert [value for value, _ in select_options(html, "company")] == ["", CRONUS, FABRIKAM]
    assert 'value="Production" selected' in html


def test_a_failing_options_request_falls_back_to_typed_entry_with_the_providers_error(client, erp_connection, erp_api):
    failure = {"error": {"code": "Internal", "message": "Tenant offline"}}
    erp_api.on("GET", "/environments/v1.1", status=500, body=failure)
    client = granted_client(client, erp_connection)
    page = client.get(f"/connect/setup/{erp_connection.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert '<input id="id_environment" name="environment" type="text"' in html
    assert "ERP Like BC answered 500: Tenant offline" in html
    assert "Type the value instead" in html

    erp_api.on("GET", "/v2.0/Production/api/v2.0/companies", status=500, body={"error": {"message": "Busy"}})
    company = client.get(f"/connect/setup/{erp_connection.pk}/choices/company", {"environment": "Production"})
    assert '<input id="id_company" name="company"' in company.content.decode()
    assert "answered 500: Busy" in company.content.decode()

    saved = client.post(f"/connect/setup/{erp_connection.pk}/", {"environment": "Production", "company": CRONUS})
    assert saved.status_code == 302
    erp_connection.refresh_from_db()
    assert erp_connection.settings == {"environment": "Production", "company": CRONUS, "company_name": ""}


def test_choices_are_only_for_a_browser_the_connection_was_granted_to(client, erp_connection, erp_api):
    response = client.get(f"/connect/setup/{erp_connection.pk}/choices/company", {"environment": "Production"})
    assert response.status_code == 404
    assert erp_api.calls("/v2.0/Production/api/v2.0/companies") == []


def test_a_setting_without_an_options_request_has_no_choices_endpoint(client, erp_connection):
    response = granted_client(client, erp_connection).get(f"/connect/setup/{erp_connection.pk}/choices/region")
    assert response.status_code == 404


def test_business_central_lists_environments_then_companies_from_its_api(db):
    """The shipped catalog entry asks Business Central's own endpoints (sourced in the YAML)."""
    specs = {spec["name"]: spec for spec in provider_for("ms-dynamics-bc").settings_spec}
    assert specs["environment"]["options"] == {
        "url": "https://api.businesscentral.dynamics.com/environments/v1.1",
        "items": "value",
        "value": "name",
        "label": "name",
        "depends_on": None,
        "fills": None,
    }
    assert specs["company"]["options"] == {
        "url": "https://api.businesscentral.dynamics.com/v2.0/{settings.environment}/api/v2.0/companies",
        "items": "value",
        "value": "id",
        "label": "name",
        "depends_on": "environment",
        "fills": "company_name",
    }


# --- the sandbox, over real HTTP ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_sandbox_workspaces_are_offered_after_sign_in(sandbox_connection, person):
    page = person.http.get(person.authorize(authorization_url(sandbox_connection)), timeout=10)
    assert page.url.endswith(f"/connect/setup/{sandbox_connection.pk}/")
    assert select_options(page.text, "workspace") == [
        ("", "Choose…"),
        ("ada-lovelace-demo", "Ada Lovelace — Demo"),
        ("ada-lovelace-sales", "Ada Lovelace — Sales"),
        ("ada-lovelace-support", "Ada Lovelace — Support"),
    ]
    action, fields = form_fields(page.text)
    fields["workspace"] = "ada-lovelace-sales"
    done = person.http.post(person.url(action), data=fields, timeout=10, headers={"Referer": page.url})
    assert "Connected" in done.text
    sandbox_connection.refresh_from_db()
    assert sandbox_connection.settings["workspace"] == "ada-lovelace-sales"
