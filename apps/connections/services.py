"""Every write to a connection. Each function is keyword-only and writes in one transaction; requests to
the provider happen before that transaction, never while a row lock is held."""

import copy
import logging
import time
from datetime import timedelta

from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.catalog.models import Provider
from apps.catalog.selectors import connector_config_get
from apps.connections import provider_client
from apps.connections.exceptions import (
    ConnectError,
    InvalidCredentials,
    InvalidGrant,
    ProviderUnavailable,
    SettingsInvalid,
)
from apps.connections.models import Connection, ConnectionModel, new_connect_nonce
from apps.connections.selectors import connector_config_for
from apps.connections.settings_spec import clean_settings
from apps.connections.tokens import normalize_token
from apps.core.services import audit_record
from apps.webhooks.services import event_emit

logger = logging.getLogger(__name__)

REFRESH_FAILURE_BUDGET = 5
REFRESH_MARGIN = timedelta(minutes=5)
HEALTH_FIELDS = [
    "status",
    "status_message",
    "health_status_code",
    "health_message",
    "health_suggested_resolution",
    "health_authentication_required",
    "health_checked_at",
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
    application,
    customer,
    provider: Provider,
    display_name: str = "",
    settings: dict | None = None,
    metadata: dict | None = None,
    credentials: dict | None = None,
    actor: str = "system",
) -> Connection:
    """Create a connection. Pasted credentials are verified (and a client-credentials token fetched)
    before anything is written, so a refused key leaves no row behind."""
    if customer.application_id != application.pk:
        raise ValueError("customer belongs to another application")
    config = connector_config_get(application=application, provider=provider)
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
        return connection_store_oauth_token(connection=connection, token_response=token, actor=actor)
    if verified is not None:
        return _store_api_credentials(connection, *verified, actor=actor)
    return connection


REUSABLE_RELATIONS = ("provider", "application", "customer", "connector_config")


def _reuse_relations(target: Connection, source: Connection) -> Connection:
    """Give `target` (a fresh read of the same row) the related rows `source` already loaded.

    Locking reads join nothing: on PostgreSQL, planning a wide join costs more than the row lock itself.
    """
    for name in REUSABLE_RELATIONS:
        field = Connection._meta.get_field(name)
        if field.is_cached(source) and getattr(target, field.attname) == getattr(source, field.attname):
            field.set_cached_value(target, field.get_cached_value(source))
    return target


def _lock(connection: Connection) -> Connection:
    return _reuse_relations(Connection.objects.select_for_update().get(pk=connection.pk), connection)


def connection_store_oauth_token(
    *, connection: Connection, token_response: dict, callback_params: dict | None = None, actor: str = "system"
) -> Connection:
    """Verify a fresh token at the provider, then replace the credentials with it in one locked step.

    The provider is called before the row lock is taken: no lock is ever held across a provider request.
    """
    config = connector_config_for(connection=connection)
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
        locked.refresh_failure_count = 0
        locked.last_refreshed_at = timezone.now()
        locked.connect_nonce = new_connect_nonce()
        _set_health(locked, verification)
        locked.save()
        audit_record(
            action="connection.authenticated" if was_pending else "connection.reconnected",
            target=locked,
            actor=actor,
            data={"scopes": token.scopes, "verified": verification.ok},
        )
        event_emit(type="connection.authenticated", connection=locked)
    return locked


def _clean_credentials(provider: Provider, credentials) -> dict[str, str]:
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
    connection: Connection, credentials
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
    """Patch a connection. `metadata` is shallow-merged and a None value deletes that key."""
    locked = _lock(connection)
    changed: list[str] = []
    if display_name is not None:
        locked.display_name = display_name
        changed.append("display_name")
    if settings is not None:
        cleaned = clean_settings(provider=locked.provider, values=settings)
        locked.settings = {k: v for k, v in {**locked.settings, **cleaned}.items() if v is not None}
        changed.append("settings")
    if metadata is not None:
        locked.metadata = _merge_metadata(locked.metadata, metadata)
        changed.append("metadata")
    if is_sync_disabled is not None:
        locked.is_sync_disabled = is_sync_disabled
        changed.append("is_sync_disabled")
    if changed:
        locked.save(update_fields=[*changed, "modified_at"])
        audit_record(action="connection.updated", target=locked, actor=actor, data={"fields": changed})
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
        locked.credentials = None
        locked.credentials_expires_at = None
        locked.scopes_granted = []
        locked.is_authentication_pending = True
        _record_health(
            locked,
            status=Connection.Status.DISCONNECTED,
            code="disconnected",
            message="The connection was disconnected.",
            status_message="Disconnected.",
            resolution="Reconnect to restore access.",
            authentication_required=True,
        )
        locked.connect_nonce = new_connect_nonce()
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


def _needs_refresh(connection: Connection, *, margin: timedelta = REFRESH_MARGIN) -> bool:
    return (
        connection.credentials_expires_at is not None and connection.credentials_expires_at <= timezone.now() + margin
    )


LEASE_POLL_SECONDS = 0.05


def _refresh_lease() -> timedelta:
    """Long enough for one token request to finish or time out."""
    return timedelta(seconds=2 * django_settings.PATCHBAY_PROVIDER_TIMEOUT_SECONDS + 5)


def _claim_refresh_lease(*, connection_id: str, force: bool) -> bool:
    """Compare-and-set: exactly one caller gets to refresh a due token (or any token, with force)."""
    now = timezone.now()
    claimable = Connection.objects.filter(pk=connection_id).filter(
        Q(refresh_lease_until__isnull=True) | Q(refresh_lease_until__lte=now)
    )
    if not force:
        claimable = claimable.filter(credentials_expires_at__lte=now + REFRESH_MARGIN)
    return claimable.update(refresh_lease_until=now + _refresh_lease()) == 1


def _release_refresh_lease(*, connection_id: str) -> None:
    Connection.objects.filter(pk=connection_id).update(refresh_lease_until=None)


def _after_other_refresh(*, connection_id: str) -> Connection:
    """The row once nobody holds its refresh lease (or the lease ran out)."""
    deadline = time.monotonic() + _refresh_lease().total_seconds()
    while True:
        connection = Connection.objects.get(pk=connection_id)
        lease = connection.refresh_lease_until
        if lease is None or lease <= timezone.now() or time.monotonic() >= deadline:
            return connection
        time.sleep(LEASE_POLL_SECONDS)


def _request_new_token(connection: Connection) -> dict | None:
    """The provider's next token for this connection, or None when it cannot be refreshed."""
    credentials = connection.credentials or {}
    if connection.is_authentication_pending or not credentials.get("access_token"):
        return None
    config = connector_config_for(connection=connection)
    if connection.provider.auth_type == Provider.AuthType.OAUTH2_CLIENT_CREDENTIALS:
        return provider_client.fetch_client_credentials_token(connection=connection, config=config)
    quirks = connection.provider.oauth.get("token_quirks") or {}
    if quirks.get("no_refresh_token") or not credentials.get("refresh_token"):
        return None
    return provider_client.refresh_token(
        connection=connection, config=config, refresh_token_value=credentials["refresh_token"]
    )


def connection_refresh_credentials(*, connection_id: str, force: bool = False) -> Connection:
    """Refresh the access token: N concurrent callers cause exactly one token request.

    The caller that claims the refresh lease talks to the provider; the others wait for it and read its
    result. No database lock is held during the provider request, so this also holds on SQLite, where a
    held write lock would stall every other writer (the built-in sandbox's token endpoint included).
    A dead refresh token (invalid_grant) disconnects the connection and is not retried. Network errors
    and 5xx count against a budget; past it the connection is marked `error`.
    """
    if not _claim_refresh_lease(connection_id=connection_id, force=force):
        return _after_other_refresh(connection_id=connection_id)
    stored = False
    try:
        connection = Connection.objects.get(pk=connection_id)
        token = _request_new_token(connection)
        if token is None:
            return connection
        connection = _store_refreshed_token(connection, token)
        stored = True
        return connection
    except InvalidGrant:
        _mark_refresh_revoked(connection)
        raise
    except ConnectError as exc:
        _mark_refresh_failed(connection, exc)
        raise
    finally:
        if not stored:
            _release_refresh_lease(connection_id=connection_id)


def _store_refreshed_token(connection: Connection, token: dict) -> Connection:
    with transaction.atomic():
        locked = _lock(connection)
        previous = locked.credentials or {}
        normalized = normalize_token(
            provider=locked.provider, token=token, requested_scopes=locked.scopes_granted, previous=previous
        )
        locked.credentials = normalized.credentials
        locked.credentials_expires_at = normalized.expires_at
        locked.scopes_granted = normalized.scopes or locked.scopes_granted
        locked.last_refreshed_at = timezone.now()
        locked.refresh_failure_count = 0
        locked.refresh_lease_until = None
        if locked.status == Connection.Status.ERROR and not locked.health_authentication_required:
            # A fresh token proves the refresh works, not that the provider accepts it: only a verification does.
            has_check = bool(locked.provider.definition.get("verification"))
            locked.status = Connection.Status.HEALTHY if has_check else Connection.Status.UNVERIFIED
            locked.status_message = ""
        locked.save(
            update_fields=[
                "credentials",
                "credentials_expires_at",
                "scopes_granted",
                "last_refreshed_at",
                "refresh_failure_count",
                "refresh_lease_until",
                "status",
                "status_message",
                "modified_at",
            ]
        )
    return locked


@transaction.atomic
def _mark_refresh_revoked(connection: Connection) -> None:
    locked = _lock(connection)
    _record_health(
        locked,
        status=Connection.Status.DISCONNECTED,
        code="authentication_failed",
        message="The refresh token was rejected by the provider.",
        status_message="The provider revoked access (invalid_grant).",
        resolution="Reconnect the account.",
        authentication_required=True,
    )
    locked.save(update_fields=[*HEALTH_FIELDS, "modified_at"])
    audit_record(action="connection.refresh_revoked", target=locked)
    event_emit(type="connection.disconnected", connection=locked, data={"reason": "invalid_grant"})


@transaction.atomic
def _mark_refresh_failed(connection: Connection, error: ConnectError) -> None:
    locked = _lock(connection)
    locked.refresh_failure_count += 1
    fields = ["refresh_failure_count", "modified_at"]
    if locked.refresh_failure_count >= REFRESH_FAILURE_BUDGET:
        _record_health(
            locked,
            status=Connection.Status.ERROR,
            code=error.code,
            message=error.user_message,
            status_message="Token refresh keeps failing.",
            resolution="Patchbay keeps retrying; reconnect if this persists.",
        )
        fields += HEALTH_FIELDS
        event_emit(type="connection.error", connection=locked, data={"reason": error.code})
    locked.save(update_fields=list(dict.fromkeys(fields)))


def connection_with_fresh_credentials(*, connection: Connection, policy: str = "auto") -> Connection:
    """OpenInt's refresh_policy: none = as stored, force = always refresh, auto = refresh if expiring."""
    if policy == "none" or connection.is_authentication_pending:
        return connection
    if policy == "auto" and not _needs_refresh(connection, margin=timedelta(seconds=30)):
        return connection
    try:
        refreshed = connection_refresh_credentials(connection_id=connection.pk, force=policy == "force")
        return _reuse_relations(refreshed, connection)
    except ConnectError:
        if policy == "force":
            raise
        connection.refresh_from_db()
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
