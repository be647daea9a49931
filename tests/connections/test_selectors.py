from apps.connections.selectors import (
    PAGE_MODELS_ATTR,
    connection_get,
    connection_list,
    connection_page_load,
    connection_page_shape,
)
from tests.factories import ApplicationFactory, ConnectionFactory, CustomerFactory, provider_for


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
