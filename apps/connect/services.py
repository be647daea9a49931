"""Writes of the hosted connect pages: OAuth attempts and callbacks (state, PKCE, replay protection, token
exchange), connect sessions, customer portal links, and the purge of expired attempts and sessions.

apps/connect/flows.py tells the story of a connect and calls these; views call them directly only to
redeem a connect session or a portal link.
"""

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from apps.audit.services import audit_record
from apps.catalog.models import Provider
from apps.connect.exceptions import (
    ConnectSessionExpired,
    ConnectSessionInvalid,
    ConnectSessionUsed,
    IssuerMismatch,
    ProviderError,
    StateExpired,
    StateProviderMismatch,
    StateUnknown,
    StateUsed,
)
from apps.connect.models import ConnectSession, OAuthAttempt
from apps.connections import provider_client
from apps.connections import services as connection_services
from apps.connections.exceptions import (
    ConnectError,
    ConnectorNotConfigured,
    ProviderDeniedConsent,
)
from apps.connections.models import Connection
from apps.connections.selectors import connector_config_for
from apps.core.compiled_reads import CompiledRead
from apps.core.errors import ValidationFailed
from apps.core.purge import delete_in_batches
from apps.tenants.models import Application, Customer
from apps.tenants.services import normalize_origin

OAUTH_ATTEMPT_TTL = timedelta(minutes=10)
PORTAL_LINK_SALT = "patchbay.connect.portal-link"


def _sha256(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def callback_redirect_uri(*, provider: Provider) -> str:
    """The exact redirect URI registered with the provider: one callback path per provider."""
    return settings.PATCHBAY_BASE_URL + reverse("connect:callback", args=[provider.name])


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


# --- OAuth attempts -------------------------------------------------------------------------------------


@transaction.atomic
def oauth_attempt_start(*, connection: Connection, return_url: str = "", actor: str = "system") -> str:
    """Create a fresh single-use OAuthAttempt and return the provider's authorize URL to redirect to.

    Only the SHA-256 of the state is stored; the PKCE verifier is stored vault-encrypted.
    """
    provider = connection.provider
    config = connector_config_for(connection=connection)
    if config is None or not config.is_enabled:
        raise ConnectorNotConfigured()
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64) if provider.oauth.get("pkce") else None
    redirect_uri = callback_redirect_uri(provider=provider)
    attempt = OAuthAttempt(
        connection=connection,
        provider=provider,
        state_hash=_sha256(state),
        redirect_uri=redirect_uri,
        return_url=return_url,
        expires_at=timezone.now() + OAUTH_ATTEMPT_TTL,
    )
    attempt.code_verifier = {"verifier": verifier}
    attempt.save()
    audit_record(action="connect.oauth_started", target=connection, actor=actor, data={"attempt": attempt.pk})
    return provider_client.authorize_url(
        connection=connection,
        config=config,
        redirect_uri=redirect_uri,
        state=state,
        code_challenge=pkce_challenge(verifier) if verifier else None,
    )


@dataclass(frozen=True)
class CallbackResult:
    connection: Connection
    return_url: str


# Compiled once per process: building this five-table read's SQL took longer than running it.
_attempt_by_state_hash = CompiledRead(
    OAuthAttempt,
    lambda state_hash: OAuthAttempt.objects.select_related(
        "connection__provider",
        "connection__application",
        "connection__customer",
        "connection__connector_config",
    ).filter(state_hash=state_hash),
)


def oauth_attempt_claim(*, provider_name: str, state: str) -> OAuthAttempt:
    """Check the state and mark its attempt used before any code exchange.

    A replayed, forged, expired or cross-provider state raises. The claim is a compare-and-set on
    `used_at IS NULL`, so of two callbacks racing with the same state exactly one wins. The attempt is read
    with its connection and everything the code exchange and the stored token's event need (one query
    instead of three on every callback). The state hash is unique, so the read is unordered: on PostgreSQL
    an ORDER BY over this join triples its planning time. The provider is the connection's (an attempt's
    provider must be its connection's), so the attempt's own provider row is not joined a second time.
    """
    if not state:
        raise StateUnknown()
    try:
        attempt = _attempt_by_state_hash.get(_sha256(state))
    except OAuthAttempt.DoesNotExist:
        raise StateUnknown() from None
    if attempt.used_at is not None:
        raise StateUsed()
    connection = attempt.connection
    if attempt.provider_id != connection.provider_id or connection.provider.name != provider_name:
        raise StateProviderMismatch()
    if attempt.is_expired:
        raise StateExpired()
    now = timezone.now()
    if not OAuthAttempt.objects.filter(pk=attempt.pk, used_at__isnull=True).update(used_at=now, modified_at=now):
        raise StateUsed()
    attempt.used_at = now
    return attempt


def _check_issuer(connection: Connection, params: dict) -> None:
    """RFC 9207: a provider whose catalog entry declares its issuer must send it back as `iss`, unchanged;
    this stops a mix-up attack replaying another authorization server's answer at this callback."""
    declared = connection.provider.oauth.get("issuer")
    if not declared:
        return
    expected = provider_client.fill_template(declared, settings=connection.settings, quote_settings=False)
    if params.get("iss") != expected:
        audit_record(action="connect.issuer_mismatch", target=connection, data={"iss": str(params.get("iss"))[:200]})
        raise IssuerMismatch()


def oauth_callback_complete(*, provider_name: str, params: dict, actor: str = "system") -> CallbackResult:
    """Finish a provider redirect: claim the state, then exchange the code and store the token.

    The attempt is marked used (and committed) before the token request, so a replay of the same callback
    cannot exchange twice. Any failure leaves the connection's stored credentials untouched and is recorded
    on the attempt (`failure_code`), which is how an embedded widget learns that its sign-in window failed.
    """
    attempt = oauth_attempt_claim(provider_name=provider_name, state=params.get("state", ""))
    connection = attempt.connection
    try:
        connection = _oauth_callback_exchange(attempt=attempt, connection=connection, params=params, actor=actor)
    except ConnectError as exc:
        oauth_attempt_record_failure(attempt=attempt, code=exc.code)
        raise
    return CallbackResult(connection=connection, return_url=attempt.return_url)


def _oauth_callback_exchange(*, attempt: OAuthAttempt, connection: Connection, params: dict, actor: str) -> Connection:
    _check_issuer(connection, params)
    error = params.get("error")
    if error:
        audit_record(action="connect.oauth_failed", target=connection, actor=actor, data={"error": error[:100]})
        if error == "access_denied":
            raise ProviderDeniedConsent()
        description = (params.get("error_description") or "").strip()[:300]
        message = f"The provider reported an error ({error[:60]})"
        message += f": {description}" if description else "."
        raise ProviderError(message + " Start the connection again; if it keeps failing, contact support.")
    code = params.get("code")
    if not code:
        raise ProviderError("The provider did not send an authorization code. Start the connection again.")
    config = connector_config_for(connection=connection)
    if config is None or not config.is_enabled:
        raise ConnectorNotConfigured()
    verifier = (attempt.code_verifier or {}).get("verifier")
    token_response = provider_client.exchange_code(
        connection=connection,
        config=config,
        code=code,
        redirect_uri=attempt.redirect_uri,
        code_verifier=verifier,
    )
    return connection_services.connection_store_oauth_token(
        connection=connection,
        token_response=token_response,
        config=config,
        callback_params=dict(params),
        actor=actor,
    )


def oauth_attempt_record_failure(*, attempt: OAuthAttempt, code: str) -> None:
    OAuthAttempt.objects.filter(pk=attempt.pk).update(failure_code=code[:60], modified_at=timezone.now())


# --- Origins and return URLs ----------------------------------------------------------------------------


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValidationFailed.from_messages(f"{url!r} is not an absolute http(s) URL.")
    return f"{parts.scheme}://{parts.netloc.lower()}"


def allowed_origin_check(*, application: Application, origin: str) -> str:
    """Return the normalised origin, or raise ValidationFailed when the application does not allow it."""
    normalised = normalize_origin(origin)
    if not application.is_origin_allowed(normalised):
        raise ValidationFailed.from_messages(
            f"{normalised} is not one of this application's allowed origins. Add it first with "
            "PATCH /api/v1/application (allowed_origins), or in the admin under Applications."
        )
    return normalised


def return_url_check(*, application: Application, url: str) -> str:
    """A return URL is accepted only on one of the application's allowed origins (no open redirect)."""
    if not url:
        return ""
    try:
        origin = origin_of(url)
    except ValidationFailed:
        raise ValidationFailed.from_messages(
            "return_url must be an absolute https URL on one of the allowed origins."
        ) from None
    if not application.is_origin_allowed(origin) or urlsplit(url).username:
        raise ValidationFailed.from_messages(
            f"return_url must be on one of this application's allowed origins; {origin} is not allowed. "
            "Add it with PATCH /api/v1/application (allowed_origins)."
        )
    return url


def frame_ancestors(*, application: Application, origin: str = "") -> str:
    """The CSP frame-ancestors source list for widget pages: the session's origin, else the app's origins."""
    origins = [origin] if origin else list(application.allowed_origins or [])
    safe = []
    for candidate in origins:
        try:
            safe.append(normalize_origin(candidate))
        except ValidationFailed:
            continue
    return " ".join(safe) if safe else "'none'"


# --- Connect sessions -----------------------------------------------------------------------------------


@transaction.atomic
def connect_session_create(
    *,
    application: Application,
    customer: Customer,
    allowed_providers: list[str] | None = None,
    allowed_origin: str = "",
    return_url: str = "",
    ttl_seconds: int = 1800,
    actor: str = "system",
) -> tuple[ConnectSession, str]:
    """Mint a single-use token for one customer's connect UI. Returns (session, raw token); only a hash is kept."""
    if customer.application_id != application.pk:
        raise ValidationFailed.from_messages("The customer belongs to another application.")
    if allowed_origin:
        allowed_origin = allowed_origin_check(application=application, origin=allowed_origin)
    return_url = return_url_check(application=application, url=return_url)
    if not 60 <= ttl_seconds <= 86400:
        raise ValidationFailed.from_messages("ttl_seconds must be between 60 and 86400.")
    raw = "cst_" + secrets.token_urlsafe(32)
    session = ConnectSession.objects.create(
        application=application,
        customer=customer,
        token_hash=_sha256(raw),
        allowed_providers=list(allowed_providers or []),
        allowed_origin=allowed_origin,
        return_url=return_url,
        expires_at=timezone.now() + timedelta(seconds=ttl_seconds),
    )
    audit_record(action="connect_session.created", target=session, actor=actor, application=application)
    return session, raw


def connect_session_url(token: str) -> str:
    return settings.PATCHBAY_BASE_URL + reverse("connect:session", args=[token])


def connect_session_lock_unused(*, token: str) -> ConnectSession:
    """Lock the session a raw token names; unknown, used and expired tokens raise. Call inside a transaction."""
    digest = _sha256(token or "")
    session = (
        ConnectSession.objects.select_for_update()
        .select_related("application", "customer")
        .filter(token_hash=digest)
        .first()
    )
    if session is None or not hmac.compare_digest(session.token_hash, digest):
        raise ConnectSessionInvalid()
    if session.used_at is not None:
        raise ConnectSessionUsed()
    if session.is_expired:
        raise ConnectSessionExpired()
    return session


@transaction.atomic
def connect_session_redeem(*, token: str) -> ConnectSession:
    """Exchange a raw connect-session token once; unknown, expired and used tokens raise."""
    session = connect_session_lock_unused(token=token)
    session.used_at = timezone.now()
    session.save(update_fields=["used_at", "modified_at"])
    audit_record(action="connect_session.used", target=session, application=session.application)
    return session


# --- Signed portal links --------------------------------------------------------------------------------


def customer_portal_link(*, customer: Customer, ttl: int | timedelta = 3600) -> str:
    """An absolute link that opens the customer portal for `customer` until `ttl` (seconds) has passed."""
    seconds = int(ttl.total_seconds()) if isinstance(ttl, timedelta) else int(ttl)
    signed = signing.TimestampSigner(salt=PORTAL_LINK_SALT).sign_object(
        {"c": customer.pk, "a": customer.application_id, "t": seconds}
    )
    return settings.PATCHBAY_BASE_URL + reverse("connect:portal_link", args=[signed])


def customer_portal_link_resolve(*, signed: str) -> dict[str, Any]:
    """Return {"customer_id", "application_id", "ttl"} (seconds) for a valid link; raise ConnectSession* otherwise."""
    signer = signing.TimestampSigner(salt=PORTAL_LINK_SALT)
    try:
        payload = signer.unsign_object(signed)
        signer.unsign_object(signed, max_age=payload["t"])
    except signing.SignatureExpired:
        raise ConnectSessionExpired() from None
    except (signing.BadSignature, KeyError, TypeError):
        raise ConnectSessionInvalid() from None
    return {"customer_id": payload["c"], "application_id": payload["a"], "ttl": payload["t"]}


# Expired attempts and sessions are kept this long so support can still read why a recent connect failed
# (and the widget can still report a failure it has not polled yet), then deleted.
CONNECT_ROWS_RETENTION = timedelta(days=1)
PURGE_BATCH_SIZE = 1000


def connect_rows_purge_expired(*, now: datetime | None = None) -> dict[str, int]:
    """Delete OAuth attempts and connect sessions that expired more than the retention period ago."""
    cutoff = (now or timezone.now()) - CONNECT_ROWS_RETENTION
    sessions = ConnectSession.objects.filter(expires_at__lt=cutoff).filter(
        Q(widget_credential_expires_at__isnull=True) | Q(widget_credential_expires_at__lt=cutoff)
    )
    return {
        "oauth_attempts": delete_in_batches(
            OAuthAttempt.objects.filter(expires_at__lt=cutoff), batch_size=PURGE_BATCH_SIZE
        ),
        "connect_sessions": delete_in_batches(sessions, batch_size=PURGE_BATCH_SIZE),
    }
