"""Turn a provider's token response into what the vault stores and what the row shows."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from apps.catalog.models import Provider
from apps.connections.provider_client import dig


@dataclass(frozen=True)
class NormalizedToken:
    credentials: dict
    expires_at: datetime | None
    scopes: list[str]
    settings: dict


def normalize_token(
    *,
    provider: Provider,
    token: dict,
    requested_scopes: list[str],
    callback_params: dict | None = None,
    previous: dict | None = None,
) -> NormalizedToken:
    quirks = provider.oauth.get("token_quirks") or {}
    now = timezone.now()
    expires_in = token.get("expires_in", quirks.get("default_expires_in"))
    expires_at = None
    if isinstance(expires_in, (int, float)) and expires_in > 0:
        expires_at = now + timedelta(seconds=int(expires_in))
    scope_value = token.get("scope")
    if isinstance(scope_value, str):
        scopes = [s for s in scope_value.replace(",", " ").split() if s]
    elif isinstance(scope_value, list):
        scopes = [str(s) for s in scope_value]
    else:
        scopes = list(requested_scopes)  # RFC 6749 §5.1: omitted scope means "as requested"
    refresh = token.get("refresh_token") or (previous or {}).get("refresh_token")
    raw = {k: v for k, v in token.items() if k not in {"expires_at"}}
    credentials = {
        "type": "oauth2",
        "access_token": token["access_token"],
        "refresh_token": refresh,
        "token_type": token.get("token_type", "bearer"),
        "expires_at": expires_at.isoformat() if expires_at else None,
        "scope": scopes,
        "raw": raw,
    }
    settings: dict = {}
    for source_key, setting in (quirks.get("settings_from_token") or {}).items():
        value = dig(token, source_key)
        if value not in (None, ""):
            settings[setting] = value
    for param, setting in (quirks.get("settings_from_callback") or {}).items():
        value = (callback_params or {}).get(param)
        if value not in (None, ""):
            settings[setting] = value
    return NormalizedToken(credentials=credentials, expires_at=expires_at, scopes=scopes, settings=settings)
