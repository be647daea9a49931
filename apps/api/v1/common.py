"""Bits every v1 and compat handler shares: documented error responses and query helpers."""

from typing import Any

import pydantic_core
from django.db.models import QuerySet
from django.http import HttpResponse

from apps.api.v1.schemas import Out
from apps.audit.services import audit_record_many
from apps.connections.models import Connection
from apps.connections.selectors import ConnectionRow, connection_get, connection_list
from apps.connections.services import connection_with_fresh_credentials, credentials_need_refresh
from apps.core.errors import Forbidden, NotFound


class ErrorBody(Out):
    code: str
    message: str
    details: Any = None
    title: str
    resolution: str


class ErrorOut(Out):
    error: ErrorBody


ERRORS = {400: ErrorOut, 401: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut, 429: ErrorOut}
READ_ERRORS = {400: ErrorOut, 401: ErrorOut, 404: ErrorOut, 422: ErrorOut, 429: ErrorOut}


def render(data, *, status: int = 200) -> HttpResponse:
    """Serialise a list endpoint's presenter output (plain dicts shaped like the operation's declared
    response schema) straight to JSON in pydantic-core.

    ninja's own path (validate into models, model_dump, stdlib json) cost more than the database work on
    a page of 100. The operation still declares its response schema, so OpenAPI is unchanged; that the
    presenters match it is what tests/api check (schemathesis over every operation, and the compat
    shapes against the reference docs). Keys a presenter leaves out (unexpanded or secret fields) are
    absent, as with exclude_unset.
    """
    return HttpResponse(pydantic_core.to_json(data), status=status, content_type="application/json; charset=utf-8")


def split_list_param(values: list[str] | None) -> list[str]:
    """Accept both ?expand=a&expand=b and ?expand=a,b (SDKs differ in how they send arrays)."""
    result: list[str] = []
    for value in values or []:
        result.extend(part.strip() for part in value.split(",") if part.strip())
    return result


def get_connection_or_404(request, connection_id: str) -> Connection:
    """Another application's connection (or, for a customer token, another customer's) answers exactly
    like an unknown id."""
    connection = connection_get(
        application=request.auth.application, connection_id=connection_id, customer=request.auth.customer
    )
    if connection is None:
        raise NotFound("Connection not found.")
    return connection


def connections_visible(request, **filters) -> QuerySet[Connection]:
    """The caller's connections: the application's, or only its customer's for a customer token."""
    return connection_list(application=request.auth.application, customer=request.auth.customer, **filters)


def ensure_own_customer(request, external_id: str) -> None:
    """A customer token names only its own customer (in a path, query or body)."""
    customer = request.auth.customer
    if customer is not None and external_id != customer.external_id:
        raise Forbidden("This customer token belongs to another customer.")


def ensure_secrets_allowed(request, include_secrets: bool) -> None:
    """Provider credentials go to the application's backend only, never to a customer token."""
    if include_secrets and request.auth.customer is not None:
        raise Forbidden("include_secrets=true needs an API key; customer tokens never see credentials.")


def fresh(connection: Connection, policy: str, *, handing_out_secrets: bool = False) -> Connection:
    """The connection after its refresh policy ran. A single read that hands out the token gets a clear
    credentials_expired error rather than an expired token; lists show such a row with status error."""
    return connection_with_fresh_credentials(connection=connection, policy=policy, require_valid=handing_out_secrets)


def fresh_rows(request, rows: list[ConnectionRow], policy: str) -> list[ConnectionRow | Connection]:
    """A list page after its refresh policy ran. A row whose token is refreshed is read again in full
    (that read is dwarfed by the token request it accompanies); every other row stays as listed."""
    return [
        fresh(get_connection_or_404(request, row.pk), policy)
        if credentials_need_refresh(connection=row, policy=policy)
        else row
        for row in rows
    ]


def connection_read(request, connection_id: str, *, refresh_policy: str, include_secrets: bool, via: str) -> Connection:
    """One connection for a single read (native and compat): the caller's, after its refresh policy ran; its
    secrets only for an API key, and their read audited (`via` names the operation)."""
    ensure_secrets_allowed(request, include_secrets)
    connection = fresh(
        get_connection_or_404(request, connection_id), refresh_policy, handing_out_secrets=include_secrets
    )
    if include_secrets:
        record_secrets_read(request, connection, via=via)
    return connection


def record_secrets_read(request, *connections: Connection | ConnectionRow, via: str) -> None:
    """One audit row per connection whose secrets were returned, all in one INSERT."""
    audit_record_many(
        action="connection.secrets_read",
        targets=list(connections),
        actor=request.auth.actor,
        application=request.auth.application,
        data={"via": via},
    )
