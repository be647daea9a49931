"""The start link of a connection: `/connect/start/<token>`, the one URL a person opens to connect.

The token signs the connection id with its `connect_nonce`; connections rotates that nonce on every
authentication and disconnect, which voids every link issued before.
"""

from django.conf import settings
from django.core import signing
from django.urls import reverse

from apps.connect.exceptions import ConnectLinkInvalid
from apps.connections.models import Connection
from apps.connections.selectors import ConnectionRow

START_TOKEN_SALT = "patchbay.connect.start"


def start_token(connection: Connection | ConnectionRow) -> str:
    return signing.Signer(salt=START_TOKEN_SALT).sign(f"{connection.pk}.{connection.connect_nonce}")


def start_path(connection: Connection | ConnectionRow) -> str:
    return reverse("connect:start", args=[start_token(connection)])


def authorization_url(connection: Connection | ConnectionRow) -> str | None:
    """The absolute start link while the connection waits for authentication; None once authenticated."""
    if not connection.is_authentication_pending:
        return None
    return settings.PATCHBAY_BASE_URL + start_path(connection)


def start_link_resolve(*, token: str) -> Connection:
    """The connection a start link was issued for; ConnectLinkInvalid when forged or voided."""
    try:
        value = signing.Signer(salt=START_TOKEN_SALT).unsign(token)
    except signing.BadSignature:
        raise ConnectLinkInvalid() from None
    connection_id, _, nonce = value.rpartition(".")
    connection = (
        Connection.objects.filter(pk=connection_id, connect_nonce=nonce)
        .select_related("application", "customer", "provider", "connector_config")
        .first()
    )
    if connection is None:
        raise ConnectLinkInvalid()
    return connection
