"""Every write to a connection; the public functions are keyword-only.

No transaction is open while a provider is called. A write that needs the provider asks first, then
locks the row and writes in one short transaction. A write made of steps commits each on its own:
creating a connection and storing its first token, disconnecting (revoke, then wipe) before a delete, and a
refresh's claim, token request and recorded outcome (claim, call, record).
"""

import contextlib
import copy
import functools
import logging
import os
import random
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from queue import Empty, SimpleQueue
from typing import Any, cast

from django.conf import settings as django_settings
from django.db import connections as db_connections
from django.db import transaction
from django.db.models import Field, Q
from django.utils import timezone

from apps.audit.services import assign_changes, audit_record, update_audit_data
from apps.catalog.models import ConnectorConfig, Provider
from apps.connections import provider_client
from apps.connections.exceptions import (
    ConnectError,
    CredentialsExpired,
    InvalidCredentials,
    InvalidGrant,
    ProviderUnavailable,
    RefreshInProgress,
    RefreshInterrupted,
    SettingsInvalid,
)
from apps.connections.models import Connection, ConnectionModel, RefreshEvent, new_connect_nonce
from apps.connections.selectors import (
    ConnectionRow,
    connector_config_for,
    connector_config_for_new_connection,
    connector_configs_for,
)
from apps.connections.settings_spec import clean_settings
from apps.connections.tokens import normalize_token
from apps.core.compiled_reads import CompiledRead
from apps.core.errors import ValidationFailed
from apps.core.purge import delete_in_batches
from apps.tenants.models import Application, Customer
from apps.webhooks.services import event_emit

logger = logging.getLogger(__name__)

REFRESH_FAILURE_BUDGET = 5
HEALTH_FIELDS = [
    "status",
    "status_message",
    "health_status_code",
    "health_message",
    "health_suggested_resolution",
    "health_authentication_required",
    "health_checked_at",
    "status_changed_at",
]


def _record_health(
    connection: Connection,
    *,
    status: str,
    code: str,
    message: str = "",
    resolution: str = "",
    authentication_required: bool = False,
    status_message: str | None = None,
) -> None:
    """Set the connection's status and health object together; the caller saves (HEALTH_FIELDS)."""
    if connection.status != status:
        connection.status_changed_at = timezone.now()
    connection.status = status
    connection.status_message = (message if status_message is None else status_message)[:500]
    connection.health_status_code = code
    connection.health_message = message[:500]
    connection.health_suggested_resolution = resolution
    connection.health_authentication_required = authentication_required
    connection.health_checked_at = timezone.now()


def _set_health(connection: Connection, verification: provider_client.Verification) -> None:
    if verification.unverified:
        _record_health(
            connection,
            status=Connection.Status.UNVERIFIED,
            code="unverified",
            message=verification.message,
            resolution="Check the connection's data at the provider; Patchbay cannot test these credentials.",
        )
    elif verification.ok:
        _record_health(connection, status=Connection.Status.HEALTHY, code="healthy")
    elif verification.deferred:
        _record_health(
            connection,
            status=Connection.Status.UNKNOWN,
            code="awaiting_settings",
            message=verification.message,
            resolution="Complete the connection's settings.",
        )
    elif verification.authentication_failed:
        _record_health(
            connection,
            status=Connection.Status.ERROR,
            code="authentication_failed",
            message=verification.message,
            resolution="Reconnect the account: the provider no longer accepts its credentials.",
            authentication_required=True,
        )
    else:
        _record_health(
            connection,
            status=Connection.Status.ERROR,
            code="unreachable" if verification.status_code is None else f"http_{verification.status_code}",
            message=verification.message,
            resolution="Check the connection's settings; Patchbay retries automatically.",
        )


def _mark_connected_if_complete(connection: Connection) -> bool:
    """Stamp the moment a customer finishes connecting (new credentials, or the last missing setting).

    The widget reports one `connected` event per stamp, so only a completed connect step may call this."""
    if not connection.is_configured:
        return False
    connection.connected_at = timezone.now()
    return True


def _warn_missing_scopes(connection: Connection, *, granted: list[str]) -> None:
    """A grant without a scope the provider entry marks required (say `offline_access`) works today and
    fails at the first refresh: say so now, naming the scopes. The caller saves HEALTH_FIELDS."""
    required = [
        provider_client.fill_template(scope, settings=connection.settings, quote_settings=False)
        for scope in connection.provider.scopes_of_kind("required")
    ]
    missing = [scope for scope in required if scope not in granted]
    if missing and connection.status == Connection.Status.HEALTHY:
        _record_health(
            connection,
            status=Connection.Status.ERROR,
            code="missing_scopes",
            message=f"The provider did not grant required scopes: {', '.join(missing)}.",
            resolution="Reconnect and approve every requested permission.",
            authentication_required=True,
        )


def _sync_models(connection: Connection) -> None:
    """Create the provider's catalog models on the connection (idempotent)."""
    existing = set(connection.models.values_list("name", flat=True))
    ConnectionModel.objects.bulk_create(
        [
            ConnectionModel(
                connection=connection,
                name=model["name"],
                display_name=model["display_name"],
                is_read_supported=model["is_read_supported"],
                is_write_supported=model["is_write_supported"],
                is_sync_supported=model["is_sync_supported"],
                is_custom_object=model["is_custom_object"],
                is_read_enabled=model["is_read_supported"],
            )
            for model in connection.provider.definition.get("models", [])
            if model["name"] not in existing
        ]
    )


def connection_create(
    *,
    application: Application,
    customer: Customer,
    provider: Provider,
    display_name: str = "",
    settings: dict | None = None,
    metadata: dict | None = None,
    credentials: dict | None = None,
    connector_config: ConnectorConfig | None = None,
    actor: str = "system",
) -> Connection:
    """Create a connection. Pasted credentials are verified (and a client-credentials token fetched)
    before anything is written, so a refused key leaves no row behind. An OAuth provider needs an enabled
    OAuth client in the application (`connector_config`, when the caller resolved it already with
    `connector_config_for_new_connection`); without one, ConnectorNotConfigured and nothing is written."""
    if customer.application_id != application.pk:
        raise ValidationFailed.from_messages("The customer belongs to another application.")
    config = connector_config or connector_config_for_new_connection(application=application, provider=provider)
    merged_settings = {**(config.default_settings if config else {}), **(settings or {})}
    connection = Connection(
        application=application,
        customer=customer,
        provider=provider,
        connector_config=config,
        display_name=display_name,
        settings=clean_settings(provider=provider, values=merged_settings),
        metadata=metadata or {},
        is_authentication_pending=True,
    )
    token = verified = None
    if provider.auth_type == Provider.AuthType.OAUTH2_CLIENT_CREDENTIALS:
        token = provider_client.fetch_client_credentials_token(connection=connection, config=config)
    elif credentials is not None:
        verified = _verified_api_credentials(connection, credentials)
    with transaction.atomic():
        connection.save()
        _sync_models(connection)
        audit_record(action="connection.created", target=connection, actor=actor, data={"provider": provider.name})
        if token is None and verified is None:
            event_emit(type="connection.created", connection=connection)
    if token is not None:
        return connection_store_oauth_token(connection=connection, token_response=token, config=config, actor=actor)
    if verified is not None:
        return _store_api_credentials(connection, *verified, actor=actor)
    return connection


REUSABLE_RELATIONS = (
    Connection.provider.field,
    Connection.application.field,
    Connection.customer.field,
    Connection.connector_config.field,
)


def _reuse_relations(target: Connection, source: Connection) -> Connection:
    """Give `target` (a fresh read of the same row) the related rows `source` already loaded.

    Locking reads join nothing: on PostgreSQL, planning a wide join costs more than the row lock itself.
    """
    for field in REUSABLE_RELATIONS:
        if field.is_cached(source) and getattr(target, field.attname) == getattr(source, field.attname):
            field.set_cached_value(target, field.get_cached_value(source))
    return target


# Every locked write starts with this read: compiled once per process (see apps/core/compiled_reads.py).
_locked_by_id = CompiledRead(Connection, lambda pk: Connection.objects.select_for_update().filter(pk=pk))


def _lock(connection: Connection) -> Connection:
    return _reuse_relations(_locked_by_id.get(connection.pk), connection)


def connection_store_oauth_token(
    *,
    connection: Connection,
    token_response: dict,
    config: ConnectorConfig | None = None,
    callback_params: dict | None = None,
    actor: str = "system",
) -> Connection:
    """Verify a fresh token at the provider, then replace the credentials with it in one locked step.

    `config` is the OAuth client the token was issued to; a caller that resolved it already passes it.
    The provider is called before the row lock is taken: no lock is ever held across a provider request.
    """
    config = config or connector_config_for(connection=connection)
    token = normalize_token(
        provider=connection.provider,
        token=token_response,
        requested_scopes=provider_client.requested_scopes(connection=connection, config=config) if config else [],
        callback_params=callback_params,
    )
    verification = provider_client.verify(
        provider=connection.provider, settings={**connection.settings, **token.settings}, credentials=token.credentials
    )
    with transaction.atomic():
        locked = _lock(connection)
        was_pending = locked.is_authentication_pending
        locked.credentials = token.credentials
        locked.credentials_expires_at = token.expires_at
        locked.scopes_granted = token.scopes
        locked.settings = {**locked.settings, **token.settings}
        locked.connector_config = config
        locked.is_authentication_pending = False
        locked.disabled = False
        locked.last_refreshed_at = timezone.now()
        _reset_refresh_state(locked, now=locked.last_refreshed_at)
        locked.connect_nonce = new_connect_nonce()
        _set_health(locked, verification)
        _mark_connected_if_complete(locked)
        _warn_missing_scopes(locked, granted=token.scopes)
        locked.save()
        audit_record(
            action="connection.authenticated" if was_pending else "connection.reconnected",
            target=locked,
            actor=actor,
            data={"scopes": token.scopes, "verified": verification.ok},
        )
        event_emit(type="connection.authenticated", connection=locked)
    return locked


def _clean_credentials(provider: Provider, credentials: object) -> dict[str, str]:
    spec = provider.definition.get("credentials")
    if not spec:
        raise InvalidCredentials(f"{provider.display_name} connects through OAuth; credentials cannot be pasted.")
    if not isinstance(credentials, dict):
        raise SettingsInvalid({"credentials": "Must be an object of field names to values."})
    cleaned: dict[str, str] = {}
    errors: dict[str, str] = {}
    for field in spec["fields"]:
        value = credentials.get(field["name"])
        if not isinstance(value, str) or not value.strip():
            errors[field["name"]] = f"{field['label']} is required."
        else:
            cleaned[field["name"]] = value.strip()
    for name in sorted(set(credentials) - {f["name"] for f in spec["fields"]}):
        errors[name] = "Unknown credential field."
    if errors:
        raise SettingsInvalid(errors)
    return cleaned


def _verified_api_credentials(
    connection: Connection, credentials: object
) -> tuple[dict[str, str], provider_client.Verification]:
    """Clean pasted credentials and check them at the provider; raise unless the provider accepts them."""
    provider = connection.provider
    cleaned = _clean_credentials(provider, credentials)
    verification = provider_client.verify(provider=provider, settings=connection.settings, credentials=cleaned)
    if not verification.ok:
        if verification.status_code is None and not verification.authentication_failed:
            raise ProviderUnavailable(f"Could not check the credentials: {verification.message}")
        raise InvalidCredentials(f"{provider.display_name} rejected the credentials: {verification.message}")
    return cleaned, verification


def _store_api_credentials(
    connection: Connection, cleaned: dict[str, str], verification: provider_client.Verification, *, actor: str
) -> Connection:
    with transaction.atomic():
        locked = _lock(connection)
        was_pending = locked.is_authentication_pending
        locked.credentials = {"type": locked.provider.auth_type, **cleaned}
        locked.credentials_expires_at = None
        locked.is_authentication_pending = False
        locked.disabled = False
        locked.connect_nonce = new_connect_nonce()
        _set_health(locked, verification)
        _mark_connected_if_complete(locked)
        locked.save()
        audit_record(
            action="connection.authenticated" if was_pending else "connection.reconnected", target=locked, actor=actor
        )
        event_emit(type="connection.authenticated", connection=locked)
    return locked


def connection_store_api_credentials(*, connection: Connection, credentials: dict, actor: str = "system") -> Connection:
    """Verify pasted credentials against the provider first; only working credentials are stored."""
    return _store_api_credentials(connection, *_verified_api_credentials(connection, credentials), actor=actor)


def connection_update_settings(*, connection: Connection, settings: dict, actor: str = "system") -> Connection:
    """Validate and merge settings. When they complete a connection that is not healthy yet (its
    verification was waiting for them), the provider is asked again, before the row is locked."""
    cleaned = clean_settings(provider=connection.provider, values=settings, only=list(settings))
    completed = copy.copy(connection)
    completed.settings = {**connection.settings, **cleaned}
    verification = None
    if completed.is_configured and completed.status != Connection.Status.HEALTHY and connection.credentials:
        verification = provider_client.verify(
            provider=connection.provider, settings=completed.settings, credentials=connection.credentials
        )
    with transaction.atomic():
        locked = _lock(connection)
        was_configured = locked.is_configured
        locked.settings = {**locked.settings, **cleaned}
        update_fields = ["settings", "modified_at"]
        if verification is not None:
            _set_health(locked, verification)
            update_fields += HEALTH_FIELDS
        if not was_configured and _mark_connected_if_complete(locked):
            update_fields.append("connected_at")
        locked.save(update_fields=update_fields)
        audit_record(action="connection.settings_updated", target=locked, actor=actor, data={"fields": sorted(cleaned)})
        if locked.is_configured and not was_configured:
            event_emit(type="connection.configured", connection=locked)
    return locked


def _merge_metadata(current: dict, patch: dict) -> dict:
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


@transaction.atomic
def connection_update(
    *,
    connection: Connection,
    display_name: str | None = None,
    settings: dict | None = None,
    metadata: dict | None = None,
    is_sync_disabled: bool | None = None,
    actor: str = "system",
) -> Connection:
    """Patch a connection. `metadata` is shallow-merged and a None value deletes that key. The audit row names
    the fields whose value changed, with old and new values except for settings (named only); no change, no
    write."""
    locked = _lock(connection)
    new_settings = None
    if settings is not None:
        cleaned = clean_settings(provider=locked.provider, values=settings)
        new_settings = {k: v for k, v in {**locked.settings, **cleaned}.items() if v is not None}
    changes = assign_changes(
        locked,
        {
            "display_name": display_name,
            "settings": new_settings,
            "metadata": None if metadata is None else _merge_metadata(locked.metadata, metadata),
            "is_sync_disabled": is_sync_disabled,
        },
    )
    if changes:
        locked.save(update_fields=[*changes, "modified_at"])
        shown = {name: values for name, values in changes.items() if name != "settings"}  # settings by name only
        audit_record(
            action="connection.updated", target=locked, actor=actor, data={"fields": list(changes), "changes": shown}
        )
    return locked


@transaction.atomic
def connection_model_update(
    *,
    model: ConnectionModel,
    is_read_enabled: bool | None = None,
    is_write_enabled: bool | None = None,
    actor: str = "system",
) -> ConnectionModel:
    """Turn reads or writes of one synced model on or off; None leaves a field as it is. A direction the
    provider does not support for the model cannot be turned on. The audit row is the connection's (its
    timeline shows it), naming the model and each changed field's old and new value."""
    locked = ConnectionModel.objects.select_for_update(of=("self",)).select_related("connection").get(pk=model.pk)
    changes = assign_changes(locked, {"is_read_enabled": is_read_enabled, "is_write_enabled": is_write_enabled})
    if not changes:
        return locked
    unsupported = {
        "is_read_enabled": f"{locked.display_name}: the provider does not support reading this model.",
        "is_write_enabled": f"{locked.display_name}: the provider does not support writing this model.",
    }
    problems = {
        name: [message]
        for name, message in unsupported.items()
        if name in changes and getattr(locked, name) and not getattr(locked, name.replace("enabled", "supported"))
    }
    if problems:
        raise ValidationFailed.from_fields(problems, message=next(iter(problems.values()))[0])
    locked.save(update_fields=[*changes, "modified_at"])
    audit_record(
        action="connection.model_updated",
        target=locked.connection,
        actor=actor,
        data={"model": locked.name, **update_audit_data(changes)},
    )
    return locked


def connection_disconnect(*, connection: Connection, actor: str = "system") -> Connection:
    """Revoke at the provider when possible, then wipe the credentials and void old connect links."""
    revoked = False
    if connection.provider.oauth and connection.credentials:
        revoked = provider_client.revoke(
            connection=connection,
            config=connector_config_for(connection=connection),
            credentials=connection.credentials,
        )
    with transaction.atomic():
        locked = _lock(connection)
        locked.scopes_granted = []
        _end_connection_access(
            locked, code="disconnected", message="The connection was disconnected.", status_message="Disconnected."
        )
        locked.save()
        audit_record(
            action="connection.disconnected", target=locked, actor=actor, data={"revoked_at_provider": revoked}
        )
        event_emit(type="connection.disconnected", connection=locked)
    return locked


def connection_delete(*, connection: Connection, actor: str = "system") -> None:
    """Revoke at the provider and wipe (connection_disconnect, no transaction open during the revoke), then
    announce and delete the row in one transaction."""
    disconnected = connection_disconnect(connection=connection, actor=actor)
    with transaction.atomic():
        audit_record(action="connection.deleted", target=disconnected, actor=actor)
        event_emit(type="connection.deleted", connection=disconnected)
        disconnected.delete()


REFRESH_MARGIN_MAX = timedelta(minutes=5)
REFRESH_RETRY_MAX = timedelta(hours=1)
LEASE_POLL_SECONDS = 0.05
# The sweep hands out due connections in batches; each batch keeps this many token requests in flight,
# and starts them for at most REFRESH_BATCH_SEND_WINDOW after its claim (the rest wait for the next sweep).
# A batch is large because what a batch pays once (the claim, the last answers' record, the task itself)
# is time its threads send nothing: at 100 rows that was a fifth of a sweep.
REFRESH_BATCH_SIZE = 500
REFRESH_BATCH_CONCURRENCY = 8
REFRESH_BATCH_SEND_WINDOW = timedelta(seconds=5)
# Rows marked "request started" and queued for the sending threads beyond those in flight, so a thread that
# frees up while the batch records answers or marks the next rows sends at once.
REFRESH_BATCH_MARKED_AHEAD = REFRESH_BATCH_CONCURRENCY // 2
# A batch records its answers (one UPDATE, one INSERT) each time this many have come back.
REFRESH_BATCH_RECORD_EVERY = 4 * REFRESH_BATCH_CONCURRENCY


def refresh_margin(lifetime: timedelta) -> timedelta:
    """How long before expiry a token is refreshed: a quarter of its lifetime, at most five minutes.

    A one-hour token is refreshed five minutes early, the sandbox's five-minute token 75 s early (the
    once-a-minute sweep still gets to it first), a 20 s token 5 s early, so short tokens are not
    refreshed on every read and a just-refreshed token is never due again.
    """
    return min(REFRESH_MARGIN_MAX, max(lifetime, timedelta(0)) / 4)


def _refresh_due_at(
    *, provider: Provider, credentials: dict, expires_at: datetime | None, issued_at: datetime
) -> datetime | None:
    """When the sweep, a read or a task may next refresh this token: the one rule all of them use.

    Besides expiry, providers that revoke idle refresh tokens (token_quirks.refresh_token_idle_days)
    get a keep-alive refresh somewhere between half and three quarters of that window, spread out so
    a thousand connections made on one day are not refreshed in the same minute.
    """
    quirks = provider.oauth.get("token_quirks") or {}
    refreshable = provider.auth_type == Provider.AuthType.OAUTH2_CLIENT_CREDENTIALS or (
        bool(credentials.get("refresh_token")) and not quirks.get("no_refresh_token")
    )
    if not refreshable:
        return None
    candidates = []
    if expires_at is not None:
        candidates.append(expires_at - refresh_margin(expires_at - issued_at))
    idle_days = quirks.get("refresh_token_idle_days")
    if idle_days and credentials.get("refresh_token"):
        candidates.append(issued_at + timedelta(days=idle_days) * random.uniform(0.5, 0.75))
    return min(candidates) if candidates else None


def _refresh_lease() -> timedelta:
    """Long enough for one token request to finish or be cut off, and its answer to be written."""
    return timedelta(seconds=provider_client.provider_call_seconds() + 5)


def refresh_wait_seconds() -> float:
    """The longest a caller waits for someone else's refresh: one token request's timeout."""
    return float(django_settings.PATCHBAY_REFRESH_WAIT_SECONDS)


def _wanted(*, now: datetime, force_since: datetime | None) -> Q:
    """Rows that still need a refresh: due, or (force) not refreshed nor failed since the caller asked."""
    wanted = Q(refresh_due_at__lte=now)
    if force_since is not None:
        wanted |= ~Q(last_refreshed_at__gte=force_since) & ~Q(refresh_failed_at__gte=force_since)
    return Q(is_authentication_pending=False, disabled=False) & wanted


def _claim_refresh_lease(*, connection_id: str, force_since: datetime | None) -> bool:
    """Compare-and-set: exactly one caller at a time gets to talk to the token endpoint for a row."""
    now = timezone.now()
    lease_free = Q(refresh_lease_until__isnull=True) | Q(refresh_lease_until__lte=now)
    claimable = Connection.objects.filter(lease_free, _wanted(now=now, force_since=force_since), pk=connection_id)
    return claimable.update(refresh_lease_until=now + _refresh_lease()) == 1


@dataclass(frozen=True)
class _BatchClaim:
    """The rows one batch won, as they were before the claim, and the lease it wrote on them. No token
    request of the batch starts after `send_deadline` (time.monotonic()), so each one ends, or times out,
    while the lease still runs."""

    connections: list[Connection]
    lease_until: datetime
    send_deadline: float


def _claim_refresh_leases(*, connection_ids: list[str]) -> _BatchClaim:
    """_claim_refresh_lease for many rows in one statement (UPDATE … RETURNING every column): the rows this
    caller won.

    The lease conditions sit in the UPDATE's own WHERE, so a row a concurrent caller claimed first is
    re-checked against its new version and skipped, as with the single claim.
    """
    now = timezone.now()
    lease_until = now + _refresh_lease() + REFRESH_BATCH_SEND_WINDOW
    send_deadline = time.monotonic() + REFRESH_BATCH_SEND_WINDOW.total_seconds()
    if not connection_ids:
        return _BatchClaim(connections=[], lease_until=lease_until, send_deadline=send_deadline)
    lease_free = Q(refresh_lease_until__isnull=True) | Q(refresh_lease_until__lte=now)
    claimable = Connection.objects.filter(lease_free, _wanted(now=now, force_since=None), pk__in=connection_ids)
    query = claimable.query
    compiler = query.get_compiler(using=claimable.db)
    where, where_params = compiler.compile(query.where)
    database = db_connections[claimable.db]
    quote = compiler.quote_name
    meta = Connection._meta
    lease = meta.get_field("refresh_lease_until")
    columns = meta.concrete_fields
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {quote(lease.column)} = %s "  # noqa: S608
        f"WHERE {where} RETURNING {', '.join(quote(field.column) for field in columns)}"
    )
    with database.cursor() as cursor:
        cursor.execute(sql, [lease.get_db_prep_save(lease_until, database), *where_params])
        rows: Iterable[Sequence[Any]] = cursor.fetchall()
    converters = compiler.get_converters([field.get_col(meta.db_table) for field in columns])
    if converters:
        rows = compiler.apply_converters(rows, converters)
    names = [field.attname for field in columns]
    return _BatchClaim(
        connections=[Connection.from_db(claimable.db, names, list(row)) for row in rows],
        lease_until=lease_until,
        send_deadline=send_deadline,
    )


def _attach_providers(connections: list[Connection]) -> None:
    """Give a claimed batch its providers: one query for the batch, none per row."""
    providers = Provider.objects.in_bulk({connection.provider_id for connection in connections})
    for connection in connections:
        connection.provider = providers[connection.provider_id]


@functools.cache
def _token_request_threads() -> ThreadPoolExecutor:
    """Threads that live as long as the process, so one batch's token requests reuse the keep-alive
    connections the previous batch opened (apps.core.http keeps them per process)."""
    return ThreadPoolExecutor(max_workers=REFRESH_BATCH_CONCURRENCY, thread_name_prefix="token-refresh")


os.register_at_fork(after_in_child=_token_request_threads.cache_clear)  # a forked pool process has no threads


@dataclass(frozen=True)
class _SentRequest:
    """One token request of a batch: the provider's answer or its error, and when it started and ended."""

    answer: dict[str, Any] | ConnectError
    started_at: datetime
    finished_at: datetime


def _send_token_request(connection: Connection, config: ConnectorConfig | None) -> _SentRequest:
    started_at = timezone.now()
    answer: dict[str, Any] | ConnectError
    try:
        answer = _request_new_token(connection, config)
    except ConnectError as error:
        answer = error
    return _SentRequest(answer=answer, started_at=started_at, finished_at=timezone.now())


def _mark_requests_started(connections: list[Connection], *, claim: _BatchClaim) -> None:
    """Record on the rows, before their requests go out, that a request started (one UPDATE, written out
    rather than compiled by the ORM: a batch runs one per few requests). A row that already carries a mark
    keeps it: its earlier request's outcome is still unknown."""
    now = timezone.now()
    database = db_connections[Connection.objects.db]
    meta = Connection._meta
    started, lease = meta.get_field("refresh_started_at"), meta.get_field("refresh_lease_until")

    def column(field: Field) -> str:
        return database.ops.quote_name(cast(str, field.column))  # a concrete field always has its column

    sql = (
        f"UPDATE {database.ops.quote_name(meta.db_table)} SET {column(started)} = %s "  # noqa: S608
        f"WHERE {column(meta.pk)} IN ({', '.join(['%s'] * len(connections))}) "
        f"AND {column(lease)} = %s AND {column(started)} IS NULL"
    )
    params = [
        started.get_db_prep_save(now, database),
        *(connection.pk for connection in connections),
        lease.get_db_prep_save(claim.lease_until, database),
    ]
    with database.cursor() as cursor:
        cursor.execute(sql, params)
    for connection in connections:
        connection.refresh_started_at = connection.refresh_started_at or now


AnsweredRequests = list[tuple[Connection, _SentRequest]]
# What a sending thread hands back for a row: its request, None when the send window had closed before the
# row's turn (nothing sent), or the unexpected exception sending raised (the batch re-raises it).
_SenderAnswer = _SentRequest | Exception | None


@dataclass(frozen=True)
class _Unsent:
    """The rows a batch's send window closed on: `marked` were marked started by this batch and never sent."""

    marked: list[Connection]
    unmarked: list[Connection]


def _send_queued_rows(
    queued: SimpleQueue[tuple[Connection, ConnectorConfig | None] | None],
    answers: SimpleQueue[tuple[Connection, _SenderAnswer]],
    send_deadline: float,
) -> None:
    """One sending thread of a batch: send each queued row's token request until told to stop (None)."""
    while (row := queued.get()) is not None:
        connection, config = row
        if time.monotonic() >= send_deadline:
            answers.put((connection, None))
            continue
        try:
            answers.put((connection, _send_token_request(connection, config)))
        except Exception as unexpected:  # noqa: BLE001 (handed to the batch's thread, which raises it)
            answers.put((connection, unexpected))


def _send_token_requests(
    to_send: list[tuple[Connection, ConnectorConfig | None]],
    *,
    claim: _BatchClaim,
    record: Callable[[AnsweredRequests], None],
) -> _Unsent:
    """Send the batch's token requests, REFRESH_BATCH_CONCURRENCY at a time, until the send window closes,
    handing the answers to `record` REFRESH_BATCH_RECORD_EVERY at a time (and the last ones at the end).

    The sending threads take rows from a queue that this thread keeps filled: it marks rows "request
    started" a group at a time (one UPDATE each time REFRESH_BATCH_MARKED_AHEAD places are free) and
    queues them, so a thread that frees up sends the next row at once, also while this thread records
    answers or marks. At most REFRESH_BATCH_MARKED_AHEAD rows wait marked for a thread, never longer than
    one request takes. A process killed mid-batch leaves "outcome unknown" only on the requests out or
    answered since the last record, and those few marked rows (a provider that rotates refresh tokens
    without a reuse grace cannot take a resend). A row whose turn comes after the send window closed is
    not sent."""
    threads = _token_request_threads()
    queued: SimpleQueue[tuple[Connection, ConnectorConfig | None] | None] = SimpleQueue()
    answers: SimpleQueue[tuple[Connection, _SenderAnswer]] = SimpleQueue()
    for _ in range(REFRESH_BATCH_CONCURRENCY):
        threads.submit(_send_queued_rows, queued, answers, claim.send_deadline)
    waiting = list(to_send)
    out = 0  # rows queued for the threads whose answer has not come back
    answered: AnsweredRequests = []
    marked_unsent: list[Connection] = []
    try:
        while True:
            free = REFRESH_BATCH_CONCURRENCY + REFRESH_BATCH_MARKED_AHEAD - out
            if waiting and free >= REFRESH_BATCH_MARKED_AHEAD and time.monotonic() < claim.send_deadline:
                group, waiting = waiting[:free], waiting[free:]
                _mark_requests_started([connection for connection, _config in group], claim=claim)
                for row in group:
                    queued.put(row)
                out += len(group)
            if len(answered) >= REFRESH_BATCH_RECORD_EVERY:  # after the refill: the threads send meanwhile
                record(answered[:])
                answered.clear()
            if not out:
                break  # every row sent and answered, or the send window closed on the rest
            came_back = [answers.get()]
            while not answers.empty():
                came_back.append(answers.get())
            out -= len(came_back)
            for connection, answer in came_back:
                if isinstance(answer, Exception):
                    raise answer
                if answer is None:
                    marked_unsent.append(connection)
                else:
                    answered.append((connection, answer))
    finally:
        with contextlib.suppress(Empty):  # rows left there only when this thread raised: not to be sent any more
            while True:
                queued.get_nowait()
        for _ in range(REFRESH_BATCH_CONCURRENCY):
            queued.put(None)
    record(answered)
    return _Unsent(marked=marked_unsent, unmarked=[connection for connection, _config in waiting])


def connection_refresh_batch(*, connection_ids: list[str]) -> int:
    """Refresh the due connections among `connection_ids`, as the sweep does, in statements counted per
    batch, not per row: one claims the leases, one or two load the providers and OAuth clients, one per
    few requests marks them started just before REFRESH_BATCH_CONCURRENCY threads send them (no
    transaction open), and for every REFRESH_BATCH_RECORD_EVERY answers one short transaction writes their
    new tokens in one UPDATE and their refresh history in one INSERT. Rows another caller holds (a read
    refreshing one, an overlapping batch) are skipped, so a duplicate batch costs one UPDATE. Revoked,
    failed and interrupted refreshes, and a refresh that ends an error, are recorded one by one exactly as
    a single refresh records them. Returns how many rows this batch claimed."""
    claim = _claim_refresh_leases(connection_ids=connection_ids)
    if not claim.connections:
        return 0
    _attach_providers(claim.connections)
    configs = connector_configs_for(connections=claim.connections)
    events: list[RefreshEvent] = []
    # Rows that carry a request-started mark from before this claim: a refresh whose answer was lost.
    resent = {
        connection.pk: connection.refresh_started_at
        for connection in claim.connections
        if connection.refresh_started_at is not None
    }

    def ended(
        connection: Connection, outcome: str, request: _SentRequest | None, error: ConnectError | None = None
    ) -> None:
        now = timezone.now()
        events.append(
            _refresh_event(
                connection,
                trigger=RefreshEvent.Trigger.SWEEP,
                started_at=request.started_at if request else now,
                finished_at=request.finished_at if request else now,
                outcome=outcome,
                is_resend=connection.pk in resent,
                error=error,
            )
        )

    def record(answered: AnsweredRequests) -> None:
        refreshed: dict[str, tuple[Connection, _SentRequest]] = {}
        now = timezone.now()
        for connection, request in answered:
            if isinstance(request.answer, InvalidGrant):
                ended(connection, RefreshEvent.Outcome.REVOKED, request, request.answer)
                _mark_refresh_revoked(connection)
            elif isinstance(request.answer, ConnectError):
                ended(connection, RefreshEvent.Outcome.FAILED, request, request.answer)
                _mark_refresh_failed(connection, request.answer)
            elif _recovers_from_refresh_error(connection):
                ended(connection, RefreshEvent.Outcome.REFRESHED, request)
                _store_refreshed_token(connection, request.answer)
            else:
                _apply_refreshed_token(connection, request.answer, now=now)
                refreshed[connection.pk] = (connection, request)
        if not (refreshed or events):
            return
        with transaction.atomic():
            written = _write_leased_rows(
                [connection for connection, _request in refreshed.values()],
                fields=REFRESHED_TOKEN_FIELDS,
                lease_until=claim.lease_until,
            )
            # A row reconnected (or taken over) while its request was out keeps its new owner's state, and
            # the answer this batch got for it is not history: the new owner records its own.
            for connection_id in written:
                connection, request = refreshed[connection_id]
                ended(connection, RefreshEvent.Outcome.REFRESHED, request)
            refresh_events_record(events=events)
        events.clear()

    unsent: list[Connection] = []
    to_send: list[tuple[Connection, ConnectorConfig | None]] = []
    for connection in claim.connections:
        if connection.pk in resent and not _may_resend(connection, started_at=resent[connection.pk]):
            ended(connection, RefreshEvent.Outcome.INTERRUPTED, None, RefreshInterrupted())
            _mark_refresh_interrupted(connection)
        elif _refreshable(connection):
            to_send.append((connection, configs[connection.pk]))
        else:
            unsent.append(connection)
    not_reached = _send_token_requests(to_send, claim=claim, record=record)
    marked_here = [connection for connection in not_reached.marked if connection.pk not in resent]
    marked_before = [connection for connection in not_reached.marked if connection.pk in resent]
    _release_unsent([*unsent, *not_reached.unmarked, *marked_before], claim=claim)
    _release_unsent(marked_here, claim=claim, clear_mark=True)
    return len(claim.connections)


def _release_unsent(connections: list[Connection], *, claim: _BatchClaim, clear_mark: bool = False) -> None:
    """Free the rows this batch claimed and sent nothing for (not refreshable, or the send window closed
    first). A request-started mark from before the claim stays: that outcome is still unknown; one this
    batch wrote on a row it then did not send goes (`clear_mark`)."""
    if connections:
        cleared = {"refresh_started_at": None} if clear_mark else {}
        Connection.objects.filter(
            pk__in=[connection.pk for connection in connections], refresh_lease_until=claim.lease_until
        ).update(refresh_lease_until=None, **cleared)


def _write_leased_rows(connections: list[Connection], *, fields: list[str], lease_until: datetime) -> set[str]:
    """Save `fields` of many rows in one UPDATE … FROM (VALUES …), each value prepared by its field (the
    credentials encrypted by the vault), on the rows that still carry this batch's lease: a row
    reconnected meanwhile, or whose lease ran out and was taken over, is left to its new owner.
    Returns the ids written."""
    if not connections:
        return set()
    database = db_connections[Connection.objects.db]
    meta = Connection._meta
    concrete = {field.name: field for field in meta.concrete_fields}
    pk, lease, written = meta.pk, concrete["refresh_lease_until"], [concrete[name] for name in fields]
    table = database.ops.quote_name(meta.db_table)
    # PostgreSQL types a VALUES column from its literals (text when all are NULL): cast to the column's type.
    # SQLite stores what it is given, and a CAST there would turn a datetime's text into a number.
    cast_values = database.vendor == "postgresql"

    def column(field: Field) -> str:
        return database.ops.quote_name(cast(str, field.column))  # a concrete field always has its column

    def value(field: Field) -> str:
        source = f"refreshed.{column(field)}"
        return f"CAST({source} AS {field.db_type(database)})" if cast_values else source

    row = f"({', '.join(['%s'] * (1 + len(written)))})"
    sql = (
        f"WITH refreshed ({', '.join(column(field) for field in [pk, *written])}) "  # noqa: S608
        f"AS (VALUES {', '.join([row] * len(connections))}) "
        f"UPDATE {table} SET {', '.join(f'{column(field)} = {value(field)}' for field in written)} "
        f"FROM refreshed WHERE {table}.{column(pk)} = refreshed.{column(pk)} "
        f"AND {table}.{column(lease)} = %s RETURNING {table}.{column(pk)}"
    )
    params: list[Any] = []
    for connection in connections:
        params.append(connection.pk)
        params.extend(field.get_db_prep_save(field.pre_save(connection, False), database) for field in written)
    params.append(lease.get_db_prep_save(lease_until, database))
    with database.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def refresh_events_record(*, events: list[RefreshEvent]) -> None:
    """Write the history of any number of refreshes in one INSERT, after the provider answered: a batch
    writes it in the transaction that stores its rows' new tokens, a single refresh right after its own
    write (so a crash between the two loses history, never a token)."""
    if events:
        RefreshEvent.objects.bulk_create(events)


def _refresh_event(
    connection: Connection,
    *,
    trigger: str,
    started_at: datetime,
    outcome: str,
    is_resend: bool,
    error: ConnectError | None = None,
    finished_at: datetime | None = None,
) -> RefreshEvent:
    return RefreshEvent(
        application_id=connection.application_id,
        connection_id=connection.pk,
        started_at=started_at,
        finished_at=finished_at or timezone.now(),
        outcome=outcome,
        trigger=trigger,
        is_resend=is_resend,
        error_code=error.code if error else "",
        message=error.message[:500] if error else "",
    )


def _seconds_until_lease_ends(connection: Connection) -> int:
    if connection.refresh_lease_until is None:
        return 1
    return max(1, int((connection.refresh_lease_until - timezone.now()).total_seconds()) + 1)


def connection_refresh_credentials(
    *, connection_id: str, force: bool = False, wait_seconds: float | None = None, trigger: str | None = None
) -> Connection:
    """Refresh the access token. Any number of callers, in any number of processes, make one token request.

    The caller that claims the lease talks to the provider (no database lock is held meanwhile); the others
    wait for it, at most `wait_seconds` (default: one token request's timeout), then raise
    RefreshInProgress. `force` means "a token issued after this call began": it joins a refresh already in
    flight instead of starting a second one, and raises that refresh's error if it failed. `trigger` names
    who asked in the refresh history (default: a forced or a due-token read).
    """
    trigger = trigger or (RefreshEvent.Trigger.FORCE if force else RefreshEvent.Trigger.READ)
    requested_at = timezone.now() if force else None
    deadline = time.monotonic() + (refresh_wait_seconds() if wait_seconds is None else wait_seconds)
    while True:
        if _claim_refresh_lease(connection_id=connection_id, force_since=requested_at):
            events: list[RefreshEvent] = []
            try:
                return _refresh_claimed(connection_id, trigger=trigger, events=events)
            finally:
                refresh_events_record(events=events)
        wanted = _wanted(now=timezone.now(), force_since=requested_at)
        if not Connection.objects.filter(wanted, pk=connection_id).exists():
            connection = Connection.objects.get(pk=connection_id)  # read after the check: the finished result
            if requested_at is not None and not (
                connection.last_refreshed_at and connection.last_refreshed_at >= requested_at
            ):
                raise _stored_refresh_error(connection)
            return connection
        if time.monotonic() >= deadline:
            connection = Connection.objects.get(pk=connection_id)
            raise RefreshInProgress(retry_after=_seconds_until_lease_ends(connection))
        time.sleep(LEASE_POLL_SECONDS)


def _stored_refresh_error(connection: Connection) -> ConnectError:
    """The error a refresh that this caller joined ended with, as recorded on the row."""
    if connection.health_status_code == RefreshInterrupted.code:
        return RefreshInterrupted()
    if connection.is_authentication_pending:
        return InvalidGrant()
    return ProviderUnavailable(connection.health_message or None)


def _may_resend(connection: Connection, *, started_at: datetime) -> bool:
    """Whether a refresh whose outcome is unknown may be sent again with the same refresh token.

    Safe when the provider does not rotate refresh tokens (or there is none: client credentials), or
    while its reuse grace for the previous refresh token (token_quirks.refresh_token_reuse_seconds) runs.
    """
    quirks = connection.provider.oauth.get("token_quirks") or {}
    if not quirks.get("refresh_token_rotates"):
        return True
    grace = timedelta(seconds=connection.provider.refresh_token_reuse_seconds)
    return timezone.now() - started_at <= grace


def _refresh_claimed(connection_id: str, *, trigger: str, events: list[RefreshEvent]) -> Connection:
    """Refresh a row whose lease this caller holds; every way out records the outcome and frees the lease.
    Each outcome is also added to `events` as a RefreshEvent, which the caller writes (in bulk)."""
    connection = Connection.objects.select_related("provider").get(pk=connection_id)
    started_at = timezone.now()

    def ended(outcome: str, error: ConnectError | None = None) -> None:
        resent = connection.refresh_started_at is not None and connection.refresh_started_at < started_at
        events.append(
            _refresh_event(
                connection, trigger=trigger, started_at=started_at, outcome=outcome, is_resend=resent, error=error
            )
        )

    recorded = False
    try:
        if connection.refresh_started_at is not None and not _may_resend(
            connection, started_at=connection.refresh_started_at
        ):
            recorded = True
            interrupted = RefreshInterrupted()
            ended(RefreshEvent.Outcome.INTERRUPTED, interrupted)
            _mark_refresh_interrupted(connection)
            raise interrupted
        if not _refreshable(connection):
            return connection
        if connection.refresh_started_at is None:
            # Written before the request: if this process dies after the provider rotated the refresh
            # token but before the answer is saved, the next claimer knows the outcome is unknown.
            connection.refresh_started_at = started_at
            Connection.objects.filter(pk=connection_id).update(refresh_started_at=connection.refresh_started_at)
        token = _request_new_token(connection, connector_config_for(connection=connection))
        stored = _store_refreshed_token(connection, token)
        recorded = True
        ended(RefreshEvent.Outcome.REFRESHED)
        return stored
    except InvalidGrant as exc:
        recorded = True
        ended(RefreshEvent.Outcome.REVOKED, exc)
        _mark_refresh_revoked(connection)
        raise
    except ConnectError as exc:
        if not recorded:
            recorded = True
            ended(RefreshEvent.Outcome.FAILED, exc)
            _mark_refresh_failed(connection, exc)
        raise
    finally:
        if not recorded:
            # No answer to record (not refreshable, or an unexpected error): the request, if one was sent,
            # keeps counting as "outcome unknown" through refresh_started_at.
            Connection.objects.filter(pk=connection_id).update(refresh_lease_until=None)


def _refreshable(connection: Connection) -> bool:
    """Whether the provider can give this connection a new token (a refresh token, or client credentials)."""
    credentials = connection.credentials or {}
    if connection.is_authentication_pending or not credentials.get("access_token"):
        return False
    if connection.provider.auth_type == Provider.AuthType.OAUTH2_CLIENT_CREDENTIALS:
        return True
    quirks = connection.provider.oauth.get("token_quirks") or {}
    return not quirks.get("no_refresh_token") and bool(credentials.get("refresh_token"))


def _request_new_token(connection: Connection, config: ConnectorConfig | None) -> dict[str, Any]:
    """The provider's next token for a _refreshable connection (a provider request: no transaction open)."""
    if connection.provider.auth_type == Provider.AuthType.OAUTH2_CLIENT_CREDENTIALS:
        return provider_client.fetch_client_credentials_token(connection=connection, config=config)
    return provider_client.refresh_token(
        connection=connection, config=config, refresh_token_value=(connection.credentials or {})["refresh_token"]
    )


REFRESH_STATE_FIELDS = [
    "refresh_lease_until",
    "refresh_started_at",
    "refresh_failed_at",
    "refresh_due_at",
    "refresh_failure_count",
]
REFRESHED_TOKEN_FIELDS = [
    "credentials",
    "credentials_expires_at",
    "scopes_granted",
    "last_refreshed_at",
    *REFRESH_STATE_FIELDS,
    "modified_at",
]


def _recovers_from_refresh_error(connection: Connection) -> bool:
    return connection.status == Connection.Status.ERROR and connection.health_status_code in REFRESH_ERROR_CODES


def _apply_refreshed_token(connection: Connection, token: dict[str, Any], *, now: datetime) -> list[str]:
    """Put a refreshed token on the row in memory; returns the fields to save. A row the last refresh left
    in error recovers: a fresh token proves the refresh works, not that the provider accepts it, so a
    provider with a verification request says healthy, one without says unverified."""
    normalized = normalize_token(
        provider=connection.provider,
        token=token,
        requested_scopes=connection.scopes_granted,
        previous=connection.credentials or {},
    )
    recovers = _recovers_from_refresh_error(connection)
    connection.credentials = normalized.credentials
    connection.credentials_expires_at = normalized.expires_at
    connection.scopes_granted = normalized.scopes or connection.scopes_granted
    connection.last_refreshed_at = now
    _reset_refresh_state(connection, now=now)
    if not recovers:
        return REFRESHED_TOKEN_FIELDS
    if connection.provider.verifies_credentials:
        _record_health(connection, status=Connection.Status.HEALTHY, code="healthy")
    else:
        _set_health(connection, provider_client.NOTHING_TO_VERIFY)
    return [*REFRESHED_TOKEN_FIELDS, *HEALTH_FIELDS]


def _store_refreshed_token(connection: Connection, token: dict[str, Any]) -> Connection:
    with transaction.atomic():
        locked = _lock(connection)
        locked.save(update_fields=_apply_refreshed_token(locked, token, now=timezone.now()))
    return locked


def _reset_refresh_state(connection: Connection, *, now: datetime) -> None:
    """A token was just stored: no refresh in flight, no failure pending, next refresh by the due rule."""
    connection.refresh_lease_until = None
    connection.refresh_started_at = None
    connection.refresh_failed_at = None
    connection.refresh_failure_count = 0
    connection.refresh_due_at = _refresh_due_at(
        provider=connection.provider,
        credentials=connection.credentials or {},
        expires_at=connection.credentials_expires_at,
        issued_at=now,
    )


def _end_connection_access(connection: Connection, *, code: str, message: str, status_message: str) -> None:
    """The connection gets no tokens any more (disconnected, or the provider refuses): wipe them, stop
    refreshing, offer a reconnect link (is_authentication_pending), and say why. The caller saves, audits
    and announces."""
    connection.credentials = None
    connection.credentials_expires_at = None
    connection.is_authentication_pending = True
    connection.refresh_lease_until = None
    connection.refresh_started_at = None
    connection.refresh_due_at = None
    connection.connect_nonce = new_connect_nonce()
    _record_health(
        connection,
        status=Connection.Status.DISCONNECTED,
        code=code,
        message=message,
        status_message=status_message,
        resolution="Reconnect to restore access.",
        authentication_required=True,
    )


def _mark_refresh_revoked(connection: Connection) -> None:
    """invalid_grant is terminal and quiet: one audit row, one webhook, no provider call until reconnected."""
    with transaction.atomic():
        locked = _lock(connection)
        _end_connection_access(
            locked,
            code=InvalidGrant.code,
            message="The provider rejected the refresh token (invalid_grant).",
            status_message="The provider revoked access (invalid_grant).",
        )
        locked.save()
        audit_record(action="connection.refresh_revoked", target=locked)
        event_emit(type="connection.disconnected", connection=locked, data={"reason": InvalidGrant.code})


def _mark_refresh_interrupted(connection: Connection) -> None:
    with transaction.atomic():
        locked = _lock(connection)
        _end_connection_access(
            locked,
            code=RefreshInterrupted.code,
            message=RefreshInterrupted.message,
            status_message="A token refresh was interrupted and cannot be repeated.",
        )
        locked.save()
        audit_record(action="connection.refresh_interrupted", target=locked)
        event_emit(type="connection.disconnected", connection=locked, data={"reason": RefreshInterrupted.code})


REFRESH_ERROR_CODES = {
    ProviderUnavailable.code,
    "provider_rejected_code",
    "malformed_token_response",
    "connector_not_configured",
    "insecure_provider_url",
    "settings_invalid",
}


def _retry_delay(*, failures: int, retry_after: int | None) -> timedelta:
    """Exponential backoff with full jitter, never sooner than the provider's Retry-After."""
    base = timedelta(seconds=django_settings.PATCHBAY_REFRESH_RETRY_BASE_SECONDS)
    ceiling = min(REFRESH_RETRY_MAX, base * 2 ** min(failures - 1, 16))
    delay = ceiling * random.uniform(0.5, 1.0)
    return max(delay, timedelta(seconds=retry_after or 0))


def _mark_refresh_failed(connection: Connection, error: ConnectError) -> None:
    """A failed refresh is never shown as healthy: the row says error at once (one webhook when it turns),
    and the next attempt waits out a jittered backoff, or comes at once when the outcome is unknown."""
    outcome_unknown = isinstance(error, ProviderUnavailable) and error.outcome_unknown
    with transaction.atomic():
        locked = _lock(connection)
        now = timezone.now()
        locked.refresh_failure_count += 1
        locked.refresh_failed_at = now
        locked.refresh_lease_until = None
        if outcome_unknown:
            locked.refresh_due_at = now  # resend promptly with the same refresh token, inside its reuse grace
        else:
            locked.refresh_started_at = None
            locked.refresh_due_at = now + _retry_delay(
                failures=locked.refresh_failure_count, retry_after=getattr(error, "retry_after", None)
            )
        was = locked.status
        _record_health(
            locked,
            status=Connection.Status.ERROR,
            code=error.code,
            message=error.message,
            status_message="The last token refresh failed; Patchbay retries automatically.",
            resolution="Patchbay keeps retrying; reconnect if this persists.",
        )
        locked.save(update_fields=[*REFRESH_STATE_FIELDS, *HEALTH_FIELDS, "modified_at"])
        if was != Connection.Status.ERROR:
            event_emit(type="connection.error", connection=locked, data={"reason": error.code})


# Long enough to see a pattern in a connection's refreshes (a weekly failure, a revocation after a
# holiday); the sweep writes one row per refresh, so the table is purged hourly.
REFRESH_EVENT_RETENTION = timedelta(days=30)
REFRESH_EVENT_PURGE_BATCH_SIZE = 5000


def refresh_events_purge_old(*, now: datetime | None = None) -> int:
    """Delete refresh history older than REFRESH_EVENT_RETENTION, in batches; returns how many rows."""
    cutoff = (now or timezone.now()) - REFRESH_EVENT_RETENTION
    return delete_in_batches(
        RefreshEvent.objects.filter(finished_at__lt=cutoff), batch_size=REFRESH_EVENT_PURGE_BATCH_SIZE
    )


def refresh_retry_countdown(*, connection_id: str) -> int:
    """Seconds until a connection's next refresh is due (for a task's retry)."""
    due = Connection.objects.filter(pk=connection_id).values_list("refresh_due_at", flat=True).first()
    if due is None:
        return 1
    return max(1, int((due - timezone.now()).total_seconds()) + 1)


def credentials_need_refresh(*, connection: Connection | ConnectionRow, policy: str) -> bool:
    """Whether a read with this refresh policy refreshes the token first (`connection` may be a list row)."""
    if policy == "none" or connection.is_authentication_pending:
        return False
    return policy == "force" or (connection.refresh_due_at is not None and connection.refresh_due_at <= timezone.now())


def connection_with_fresh_credentials(
    *, connection: Connection, policy: str = "auto", require_valid: bool = False
) -> Connection:
    """OpenInt's refresh_policy: none = as stored, force = always refresh, auto = refresh when due.

    With `require_valid` (the caller is about to hand out the token) an expired access token is never
    returned as if fresh: CredentialsExpired says so instead. `none` asks for the stored token as it is.
    """
    if policy == "none":
        return connection
    if credentials_need_refresh(connection=connection, policy=policy):
        try:
            refreshed = connection_refresh_credentials(connection_id=connection.pk, force=policy == "force")
            connection = _reuse_relations(refreshed, connection)
        except ConnectError:
            if policy == "force":
                raise
            connection.refresh_from_db()
    expires_at = connection.credentials_expires_at
    if require_valid and connection.credentials and expires_at is not None and expires_at <= timezone.now():
        raise CredentialsExpired(internal_detail=connection.health_message)
    return connection


def connection_check_health(*, connection_id: str) -> Connection:
    connection = Connection.objects.get(pk=connection_id)
    if connection.is_authentication_pending or not connection.credentials:
        return connection
    connection = connection_with_fresh_credentials(connection=connection, policy="auto")
    verification = provider_client.verify(
        provider=connection.provider, settings=connection.settings, credentials=connection.credentials or {}
    )
    with transaction.atomic():
        locked = _lock(connection)
        previous = locked.status
        _set_health(locked, verification)
        locked.save(update_fields=[*HEALTH_FIELDS, "modified_at"])
        if previous != locked.status:
            event_emit(type=f"connection.{locked.status}", connection=locked)
    return locked


def connection_setting_options(
    *, connection: Connection, specs: list[dict], values: dict
) -> dict[str, provider_client.SettingOptions]:
    """Choices for each of `specs` that declares an options request, listed by the provider with a fresh token.

    `values` are the settings chosen so far (a dependent list is only requested once the setting it
    depends on has a value). Runs outside any transaction: these are provider requests.
    """
    wanted = [
        spec
        for spec in specs
        if spec.get("options") and (not spec["options"]["depends_on"] or values.get(spec["options"]["depends_on"]))
    ]
    if not wanted or connection.is_authentication_pending:
        return {}
    connection = connection_with_fresh_credentials(connection=connection, policy="auto")
    settings = {**connection.settings, **values}
    return {
        spec["name"]: provider_client.setting_options(
            provider=connection.provider,
            request=spec["options"],
            settings=settings,
            credentials=connection.credentials or {},
        )
        for spec in wanted
    }
