import threading
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.db import connections as db_connections
from django.db import transaction
from django.db.models import Count
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from apps.connections.models import Connection
from apps.core.compiled_reads import CompiledRead
from tests.factories import ConnectionFactory, ConnectorConfigFactory

pytestmark = pytest.mark.django_db

RELATIONS = ("provider", "application", "customer", "connector_config")


def connections_by_id() -> CompiledRead[Connection]:
    return CompiledRead(Connection, lambda pk: Connection.objects.select_related(*RELATIONS).filter(pk=pk))


def row_values(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


def assert_same_rows(compiled: Connection, expected: Connection) -> None:
    assert row_values(compiled) == row_values(expected)
    assert compiled.get_deferred_fields() == set()
    for name in RELATIONS:
        related, expected_related = getattr(compiled, name), getattr(expected, name)
        assert (related is None) == (expected_related is None)
        if related is not None:
            assert row_values(related) == row_values(expected_related)
            assert related._state.adding is False and related._state.db == "default"


def test_reads_the_row_and_its_related_rows_as_the_orm_does(django_assert_num_queries):
    config = ConnectorConfigFactory()
    with_config = ConnectionFactory(
        application=config.application,
        provider=config.provider,
        connector_config=config,
        settings={"tenant": "acme"},
        credentials={"access_token": "secret"},
        credentials_expires_at=timezone.now() + timedelta(hours=1),
        scopes_granted=["a", "b"],
    )
    without_config = ConnectionFactory()
    read = connections_by_id()
    for connection in [with_config, without_config, with_config]:  # the last read runs the compiled SQL again
        expected = Connection.objects.select_related(*RELATIONS).get(pk=connection.pk)
        with django_assert_num_queries(1):
            compiled = read.get(connection.pk)
            assert_same_rows(compiled, expected)  # related rows are loaded: no query to reach them
        assert compiled.credentials == expected.credentials
        assert compiled._state.adding is False and compiled._state.db == "default"
    assert read.get(without_config.pk).connector_config is None
    assert read.get(with_config.pk).credentials == {"access_token": "secret"}


def test_an_unknown_value_raises_does_not_exist():
    read = connections_by_id()
    ConnectionFactory()
    with pytest.raises(Connection.DoesNotExist):
        read.get("conn_unknown")
    with pytest.raises(Connection.DoesNotExist):
        read.get("conn_unknown")


def test_a_read_whose_value_is_not_one_parameter_is_refused():
    read = CompiledRead(Connection, lambda pk: Connection.objects.filter(pk=pk) | Connection.objects.filter(id=pk))
    with pytest.raises(ValueError, match="one parameter"):
        read.get("conn_x")


@pytest.mark.django_db(transaction=True)  # outside the test's own transaction, as a request runs
def test_a_locking_read_runs_only_inside_a_transaction():
    connection = ConnectionFactory()
    read = CompiledRead(Connection, lambda pk: Connection.objects.select_for_update().filter(pk=pk))
    with transaction.atomic():
        assert read.get(connection.pk) == connection
    if db_connection.features.has_select_for_update:  # SQLite has no row locks: Django runs it anyway
        with pytest.raises(TransactionManagementError):
            read.get(connection.pk)
    with transaction.atomic():
        assert read.get(connection.pk) == connection


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not db_connection.features.has_select_for_update, reason="SQLite locks the whole database")
def test_a_locking_read_waits_for_the_transaction_holding_the_row():
    connection = ConnectionFactory()
    read = CompiledRead(Connection, lambda pk: Connection.objects.select_for_update().filter(pk=pk))
    locked_by_other = threading.Event()

    def other_transaction() -> None:
        try:
            with transaction.atomic():
                read.get(connection.pk)
                locked_by_other.set()
        finally:
            db_connections.close_all()

    with transaction.atomic():
        read.get(connection.pk)
        other = threading.Thread(target=other_transaction)
        other.start()
        assert not locked_by_other.wait(0.5)  # blocked on the row while this transaction holds it
    other.join(10)
    assert locked_by_other.is_set()


def test_an_annotated_read_is_refused():
    read = CompiledRead(Connection, lambda pk: Connection.objects.annotate(n=Count("models")).filter(pk=pk))
    with pytest.raises(ValueError, match="annotations"):
        read.get("conn_x")
