"""factory-boy factories shared by every test package."""

import factory
from django.contrib.auth import get_user_model

from apps.catalog.models import ConnectorConfig, Provider
from apps.catalog.services import catalog_sync
from apps.connections.models import Connection
from apps.tenants.models import Application, Customer
from apps.tenants.services import webhook_secret_new


class ApplicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Application

    name = factory.Sequence(lambda n: f"Acme {n}")
    slug = factory.Sequence(lambda n: f"acme-{n}")
    allowed_origins = factory.LazyFunction(lambda: ["https://app.acme.test"])
    webhook_secret = factory.LazyFunction(lambda: {"secret": webhook_secret_new()})


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    application = factory.SubFactory(ApplicationFactory)
    external_id = factory.Sequence(lambda n: f"customer-{n}")
    name = factory.Sequence(lambda n: f"Customer {n}")


def provider_for(name: str) -> Provider:
    """The catalog's provider of that name. The catalog is loaded once per session, but transactional
    tests flush every table, so it is reloaded on demand."""
    provider = Provider.objects.filter(name=name).first()
    if provider is None:
        catalog_sync()
        provider = Provider.objects.get(name=name)
    return provider


class ConnectorConfigFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConnectorConfig

    application = factory.SubFactory(ApplicationFactory)
    provider = factory.LazyFunction(lambda: provider_for("hubspot"))
    client_id = "client-id"
    client_secret = factory.LazyFunction(lambda: {"client_secret": "client-secret-value"})


class ConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Connection

    application = factory.SubFactory(ApplicationFactory)
    customer = factory.SubFactory(CustomerFactory, application=factory.SelfAttribute("..application"))
    provider = factory.LazyFunction(lambda: provider_for("hubspot"))


class StaffUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"staff{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@patchbay.test")
    is_staff = True
    is_superuser = True
    password = factory.django.Password("correct-horse-battery")
