from apps.connections.selectors import (
    PAGE_MODELS_ATTR,
    connection_get,
    connection_list,
    connection_page_load,
    connection_page_shape,
    connector_config_for,
    connector_configs_for,
)
from tests.factories import (
    ApplicationFactory,
    ConnectionFactory,
    ConnectorConfigFactory,
    CustomerFactory,
    provider_for,
)


def test_another_applications_connection_is_invisible(db):
    mine, theirs = ApplicationFactory(), ApplicationFactory()
    foreign = ConnectionFactory(application=theirs, customer=CustomerFactory(application=theirs))
    assert connection_get(application=mine, connection_id=foreign.pk) is None
    assert list(connection_list(application=mine)) == []
    assert connection_get(application=theirs, connection_id=foreign.pk) == foreign


def test_list_filters_by_customer_provider_status_and_category(db):
    application = ApplicationFactory()
    alice, bob = CustomerFactory(application=application), CustomerFactory(application=application)
    hub = ConnectionFactory(application=application, customer=alice)
    bc = ConnectionFactory(application=application, customer=bob, provider=provider_for("patchbay-sandbox"))
    assert list(connection_list(application=application, customer=alice)) == [hub]
    assert list(connection_list(application=application, provider_name="patchbay-sandbox")) == [bc]
    assert list(connection_list(application=application, category="sandbox")) == [bc]
    assert list(connection_list(application=application, status="healthy")) == []


def _read_page(application) -> None:
    rows = connection_page_load(list(connection_page_shape(connection_list(application=application))[:100]))
    for connection in rows:
        _ = (connection.customer_external_id, connection.provider.name, connection.missing_settings)
        _ = [model.last_sync for model in connection.__dict__[PAGE_MODELS_ATTR]]


def test_a_page_costs_the_same_queries_whatever_its_size(db, django_assert_max_num_queries):
    application = ApplicationFactory()
    customer = CustomerFactory(application=application)
    for _ in range(3):
        ConnectionFactory(application=application, customer=customer)
    with django_assert_max_num_queries(3):  # page, models, providers not cached yet
        _read_page(application)
    for _ in range(20):
        ConnectionFactory(application=application, customer=customer)
    with django_assert_max_num_queries(3):
        _read_page(application)


def test_a_batch_resolves_the_same_oauth_clients_as_one_connection_at_a_time(db, django_assert_num_queries):
    application, other_application = ApplicationFactory(), ApplicationFactory()
    customer = CustomerFactory(application=application)
    hubspot, sandbox, salesforce = (provider_for(name) for name in ("hubspot", "patchbay-sandbox", "salesforce"))
    hubspot_client = ConnectorConfigFactory(application=application, provider=hubspot)
    disabled = ConnectorConfigFactory(application=application, provider=salesforce, is_enabled=False)
    ConnectorConfigFactory(application=other_application, provider=sandbox)
    connections = [
        ConnectionFactory(
            application=application, customer=customer, provider=hubspot, connector_config=hubspot_client
        ),
        ConnectionFactory(application=application, customer=customer, provider=hubspot),
        ConnectionFactory(application=application, customer=customer, provider=salesforce, connector_config=disabled),
        ConnectionFactory(application=application, customer=customer, provider=sandbox),
    ]
    one_at_a_time = [connector_config_for(connection=connection) for connection in connections]

    with django_assert_num_queries(2):
        batched = connector_configs_for(connections=connections)
    assert [batched[connection.pk] for connection in connections] == one_at_a_time
    assert one_at_a_time == [hubspot_client, hubspot_client, disabled, None], "another application's is not used"
