from datetime import UTC, datetime

from apps.connections.models import Connection, ConnectionModel, SyncRun
from apps.connections.selectors import (
    ConnectionRow,
    connection_get,
    connection_list,
    connection_page_rows,
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
    rows = connection_page_rows(connection_list(application=application)[:100])
    for connection in rows:
        _ = (connection.customer_external_id, connection.provider.name, connection.lifecycle.missing_settings)
        _ = [model.last_sync for model in connection.page_models]


def test_a_page_costs_the_same_queries_whatever_its_size(db, django_assert_max_num_queries):
    application = ApplicationFactory()
    customer = CustomerFactory(application=application)
    for _ in range(3):
        ConnectionFactory(application=application, customer=customer)
    with django_assert_max_num_queries(2):  # the page with its models; providers not cached yet
        _read_page(application)
    for _ in range(20):
        ConnectionFactory(application=application, customer=customer)
    with django_assert_max_num_queries(1):
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


def test_page_rows_read_models_and_their_last_sync_as_the_orm_does(db):
    application = ApplicationFactory()
    connection = ConnectionFactory(application=application, customer=CustomerFactory(application=application))
    ConnectionModel.objects.create(connection=connection, name="deals", display_name="Deals")
    contacts = ConnectionModel.objects.create(
        connection=connection,
        name="contacts",
        display_name="Contacts",
        is_write_enabled=True,
        next_sync_at=datetime(2026, 3, 4, 5, 6, 7, 891000, tzinfo=UTC),
    )
    run = SyncRun.objects.create(
        model=contacts,
        status="failed",
        attempt=3,
        error="quota",
        pagination_state={"cursor": "abc", "page": 2},
        started_at=datetime(2026, 3, 4, 5, 0, tzinfo=UTC),
    )
    contacts.last_sync = run
    contacts.save()

    (row,) = connection_page_rows(connection_list(application=application))

    assert [model.name for model in row.page_models] == ["contacts", "deals"]
    for read, stored in zip(row.page_models, ConnectionModel.objects.order_by("name"), strict=True):
        assert vars(read) | {"last_sync": None} == {
            **{f.attname: getattr(stored, f.attname) for f in ConnectionModel._meta.concrete_fields},
            "pk": stored.pk,
            "last_sync": None,
        }
    last_sync = row.page_models[0].last_sync
    run.refresh_from_db()
    assert vars(last_sync) == {
        **{f.attname: getattr(run, f.attname) for f in SyncRun._meta.concrete_fields},
        "pk": run.pk,
    }
    assert row.page_models[1].last_sync is None


def test_a_page_row_declares_every_column_it_reads():
    columns = {f.attname for f in Connection._meta.concrete_fields} - {"credentials"}
    assert columns <= set(ConnectionRow.__annotations__)
