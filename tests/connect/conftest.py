import textwrap

import pytest
from django.core.management import call_command

from apps.catalog.services import catalog_sync
from apps.connections.services import connection_create
from apps.sandbox.services import sandbox_connector_config_ensure
from tests.connect.flow import SandboxPerson
from tests.connect.oauth_server import OAuthServer
from tests.factories import ApplicationFactory, ConnectorConfigFactory, CustomerFactory, provider_for

ACME_YAML = """\
name: acme-oauth
display_name: Acme OAuth
description: A provider defined only by a YAML file in an extra catalog directory.
categories: [crm]
auth_type: oauth2
website: https://acme.example.com
color: "#AA3355"
oauth:
  authorize_url: "{server}/{{settings.tenant}}/authorize"
  token_url: "{server}/{{settings.tenant}}/token"
  client_auth: basic
  pkce: true
scopes:
  - scope: contacts.read
    kind: default
settings:
  - name: tenant
    type: string
    label: Tenant
    help: Your Acme tenant, lowercase letters.
    pattern: "^[a-z]+$"
  - name: region
    type: string
    label: Region
    enum: [eu, us]
verification:
  url: "{server}/{{settings.tenant}}/me"
sources:
  - https://acme.example.com/docs/oauth
"""


@pytest.fixture
def oauth_server():
    server = OAuthServer().start()
    yield server
    server.stop()


@pytest.fixture
def acme_provider(settings, tmp_path, oauth_server):
    """A provider that exists only as YAML in an extra PATCHBAY_CATALOG_DIRS directory."""
    (tmp_path / "acme-oauth.yaml").write_text(textwrap.dedent(ACME_YAML.format(server=oauth_server.url)))
    settings.PATCHBAY_CATALOG_DIRS = [*settings.PATCHBAY_CATALOG_DIRS, tmp_path]
    call_command("load_catalog", verbosity=0)
    return provider_for("acme-oauth")


@pytest.fixture
def application():
    return ApplicationFactory(allowed_origins=["https://app.acme.test"])


@pytest.fixture
def customer(application):
    return CustomerFactory(application=application)


@pytest.fixture
def acme_config(application, acme_provider, oauth_server):
    return ConnectorConfigFactory(
        application=application,
        provider=acme_provider,
        client_id=oauth_server.client_id,
        client_secret={"client_secret": oauth_server.client_secret},
    )


@pytest.fixture
def acme_connection(application, customer, acme_config):
    return connection_create(
        application=application, customer=customer, provider=acme_config.provider, settings={"tenant": "acme"}
    )


# --- real HTTP against the live server with the built-in sandbox provider -----------------------------


@pytest.fixture
def live(live_server, settings, transactional_db):
    """The live server as PATCHBAY_BASE_URL, with the catalog present (transactional tests flush it)."""
    settings.PATCHBAY_BASE_URL = live_server.url
    settings.ALLOWED_HOSTS = ["*"]
    catalog_sync()
    return live_server


@pytest.fixture
def sandbox_app(live):
    application = ApplicationFactory(allowed_origins=["https://app.acme.test"])
    sandbox_connector_config_ensure(application=application)
    return application


@pytest.fixture
def sandbox_customer(sandbox_app):
    return CustomerFactory(application=sandbox_app)


@pytest.fixture
def sandbox_connection(sandbox_app, sandbox_customer):
    return connection_create(
        application=sandbox_app, customer=sandbox_customer, provider=provider_for("patchbay-sandbox")
    )


@pytest.fixture
def person(live):
    return SandboxPerson(live.url)
