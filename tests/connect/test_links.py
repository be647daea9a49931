import pytest

from apps.connect.exceptions import ConnectLinkInvalid
from apps.connect.links import authorization_url, start_link_resolve, start_token
from apps.connections import services
from tests.factories import ConnectionFactory


def test_start_link_resolves_until_the_connection_is_disconnected(db):
    connection = ConnectionFactory()
    token = start_token(connection)
    assert start_link_resolve(token=token) == connection
    for forged in (token + "x", "conn_forged.nonce:sig"):
        with pytest.raises(ConnectLinkInvalid):
            start_link_resolve(token=forged)
    services.connection_disconnect(connection=connection)
    with pytest.raises(ConnectLinkInvalid):
        start_link_resolve(token=token)


def test_authorization_url_is_the_absolute_start_link_only_while_pending(db):
    connection = ConnectionFactory(is_authentication_pending=True)
    assert authorization_url(connection) == f"http://127.0.0.1:8000/connect/start/{start_token(connection)}"
    connection.is_authentication_pending = False
    assert authorization_url(connection) is None
