"""Everything that talks HTTP to a provider: authorize URLs, code exchange, refresh, revoke, verification.

OAuth token requests go through requests-oauthlib; provider quirks from the catalog are applied as its
compliance hooks, so the rest of Patchbay only ever sees a standard token response.
"""

import json
import logging
import os
import threading
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import requests
from django.conf import settings as django_settings
from oauthlib.oauth2 import OAuth2Error
from oauthlib.oauth2.rfc6749.errors import InvalidGrantError, MissingTokenError
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

from apps.catalog.models import ConnectorConfig, Provider
from apps.catalog.schema import TEMPLATE_PATTERN
from apps.connections.exceptions import (
    ConnectorNotConfigured,
    InsecureProviderUrl,
    InvalidGrant,
    MalformedTokenResponse,
    ProviderRejectedCode,
    ProviderUnavailable,
    SettingsInvalid,
)

# resolve_url() refuses plain http except to loopback and to this Patchbay (the sandbox), so oauthlib's own
# https check would only repeat it; providers may grant fewer scopes than asked, which we record.
os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")
os.environ.setdefault("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")

logger = logging.getLogger(__name__)
_thread_local = threading.local()


def _http() -> requests.Session:
    """One keep-alive session per thread: refresh sweeps reuse connections to the same token endpoint."""
    session = getattr(_thread_local, "session", None)
    if session is None:
        session = _thread_local.session = requests.Session()
    return session


def _timeout() -> float:
    return django_settings.PATCHBAY_PROVIDER_TIMEOUT_SECONDS


def fill_template(
    template: str, *, settings: dict | None = None, credentials: dict | None = None, quote_settings: bool = True
) -> str:
    """Fill {base_url}, {settings.x} and {credentials.x}; a missing setting is a SettingsInvalid."""
    text = template.replace("{base_url}", django_settings.PATCHBAY_BASE_URL)
    settings = settings or {}
    credentials = credentials or {}
    missing: dict[str, str] = {}

    def substitute(match) -> str:
        kind, name = match.group(1), match.group(2)
        source = settings if kind == "settings" else credentials
        value = source.get(name)
        if value in (None, ""):
            missing[name] = "This setting is required before connecting."
            return ""
        return quote(str(value), safe="") if kind == "settings" and quote_settings else str(value)

    filled = TEMPLATE_PATTERN.sub(substitute, text)
    if missing:
        raise SettingsInvalid(missing)
    return filled


LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


def resolve_url(template: str, *, settings: dict | None = None, credentials: dict | None = None) -> str:
    """A provider URL with its templates filled; tokens only ever travel over https (or loopback)."""
    url = fill_template(template, settings=settings, credentials=credentials)
    parts = urlsplit(url)
    secure = parts.scheme == "https" or (
        parts.scheme == "http"
        and (parts.hostname in LOOPBACK_HOSTS or url.startswith(django_settings.PATCHBAY_BASE_URL + "/"))
    )
    if not secure or not parts.hostname:
        raise InsecureProviderUrl()
    return url


def requested_scopes(*, connection, config: ConnectorConfig) -> list[str]:
    """The config's scopes with per-connection templates filled, e.g. a Dynamics org URL."""
    return [
        fill_template(scope, settings=connection.settings, quote_settings=False) for scope in config.requested_scopes()
    ]


def _with_query(url: str, params: dict) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update({k: v for k, v in params.items() if v is not None})
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query, quote_via=quote), parts.fragment))


def _require_client(config: ConnectorConfig | None) -> ConnectorConfig:
    if config is None or not config.is_enabled or not config.client_id:
        raise ConnectorNotConfigured()
    return config


def authorize_url(*, connection, config: ConnectorConfig | None, redirect_uri: str, state: str, code_challenge) -> str:
    config = _require_client(config)
    oauth = connection.provider.oauth
    scopes = requested_scopes(connection=connection, config=config)
    params = {
        "response_type": "code",
        "client_id": config.client_id,
        "redirect_uri": redirect_uri,
        "state": state,
        "scope": oauth["scope_separator"].join(scopes) if scopes else None,
    }
    if code_challenge:
        params.update(code_challenge=code_challenge, code_challenge_method="S256")
    params.update(oauth.get("authorize_params") or {})
    return _with_query(resolve_url(oauth["authorize_url"], settings=connection.settings), params)


def _dig(data: dict, dotted: str):
    for part in dotted.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


class _QuirkHooks:
    """requests-oauthlib compliance hooks built from the provider's token_quirks."""

    def __init__(self, provider: Provider):
        self.quirks = provider.oauth.get("token_quirks") or {}

    def __call__(self, response: requests.Response) -> requests.Response:
        if response.status_code >= 500:
            raise ProviderUnavailable(detail=f"token endpoint answered {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            if 200 <= response.status_code < 300 and "access_token=" in response.text:
                return response  # form-encoded token responses (older GitHub apps) are parsed by oauthlib
            raise MalformedTokenResponse(
                detail=f"token endpoint answered {response.status_code} without JSON"
            ) from None
        if not isinstance(body, dict):
            raise MalformedTokenResponse(detail="token response is not a JSON object")
        ok_field = self.quirks.get("error_field_when_ok")
        if ok_field and body.get(ok_field) is False:
            body = {"error": body.get("error") or "invalid_request", "error_description": body.get("error", "")}
        path = self.quirks.get("access_token_path")
        if path and "access_token" not in body and _dig(body, path):
            body["access_token"] = _dig(body, path)
        scope_field = self.quirks.get("scope_field")
        if scope_field and scope_field in body and "scope" not in body:
            body["scope"] = body[scope_field]
        if isinstance(body.get("scope"), list):
            body["scope"] = " ".join(body["scope"])
        elif isinstance(body.get("scope"), str) and self.quirks.get("scope_separator", " ") != " ":
            body["scope"] = " ".join(s for s in body["scope"].split(self.quirks["scope_separator"]) if s)
        if isinstance(body.get("expires_in"), str) and body["expires_in"].isdigit():
            body["expires_in"] = int(body["expires_in"])
        response._content = json.dumps(body).encode()
        return response


def _session(provider: Provider, config: ConnectorConfig, **kwargs) -> OAuth2Session:
    session = OAuth2Session(client_id=config.client_id, **kwargs)
    for prefix, adapter in _http().adapters.items():
        session.mount(prefix, adapter)
    hooks = _QuirkHooks(provider)
    session.register_compliance_hook("access_token_response", hooks)
    session.register_compliance_hook("refresh_token_response", hooks)
    return session


def _client_auth(provider: Provider, config: ConnectorConfig) -> dict:
    if provider.oauth["client_auth"] == "basic":
        return {"auth": HTTPBasicAuth(config.client_id, config.secret_value), "include_client_id": False}
    return {"client_secret": config.secret_value, "include_client_id": True}


def _token_call(call):
    try:
        token = call()
    except (ProviderUnavailable, MalformedTokenResponse):
        raise
    except InvalidGrantError as exc:
        raise InvalidGrant(detail=exc.description or exc.error) from None
    except MissingTokenError:
        raise MalformedTokenResponse(detail="token response has no access_token") from None
    except OAuth2Error as exc:
        raise ProviderRejectedCode(
            f"The provider refused the authorization ({exc.error}). Start the connection again.",
            detail=exc.description or "",
        ) from None
    except requests.Timeout:
        raise ProviderUnavailable(detail="token endpoint timed out") from None
    except requests.RequestException as exc:
        raise ProviderUnavailable(detail=f"token endpoint unreachable ({type(exc).__name__})") from None
    except ValueError:
        raise MalformedTokenResponse(detail="token response could not be parsed") from None
    return dict(token)


def exchange_code(*, connection, config: ConnectorConfig | None, code: str, redirect_uri: str, code_verifier) -> dict:
    config = _require_client(config)
    provider = connection.provider
    session = _session(provider, config, redirect_uri=redirect_uri)
    token_url = resolve_url(provider.oauth["token_url"], settings=connection.settings)
    extra = dict(provider.oauth.get("token_params") or {})
    if code_verifier:
        extra["code_verifier"] = code_verifier
    try:
        return _token_call(
            lambda: session.fetch_token(
                token_url,
                code=code,
                timeout=_timeout(),
                headers={"Accept": "application/json"},
                **_client_auth(provider, config),
                **extra,
            )
        )
    except InvalidGrant:
        # On a code exchange invalid_grant means this code (or its PKCE verifier) was refused, not that a
        # working connection was revoked: the person must start again.
        raise ProviderRejectedCode() from None


def refresh_token(*, connection, config: ConnectorConfig | None, refresh_token_value: str) -> dict:
    config = _require_client(config)
    provider = connection.provider
    session = _session(provider, config)
    token_url = resolve_url(
        provider.oauth.get("refresh_url") or provider.oauth["token_url"], settings=connection.settings
    )
    auth = _client_auth(provider, config)
    kwargs = (
        {"auth": auth["auth"]}
        if "auth" in auth
        else {"client_id": config.client_id, "client_secret": auth["client_secret"]}
    )
    return _token_call(
        lambda: session.refresh_token(
            token_url,
            refresh_token=refresh_token_value,
            timeout=_timeout(),
            headers={"Accept": "application/json"},
            **kwargs,
        )
    )


def fetch_client_credentials_token(*, connection, config: ConnectorConfig | None) -> dict:
    config = _require_client(config)
    provider = connection.provider
    token_url = resolve_url(provider.oauth["token_url"], settings=connection.settings)
    scopes = requested_scopes(connection=connection, config=config)
    data = {"grant_type": "client_credentials", **(provider.oauth.get("token_params") or {})}
    if scopes:
        data["scope"] = provider.oauth["scope_separator"].join(scopes)
    auth = None
    if provider.oauth["client_auth"] == "basic":
        auth = HTTPBasicAuth(config.client_id, config.secret_value)
    else:
        data.update(client_id=config.client_id, client_secret=config.secret_value)

    def call():
        response = _http().post(
            token_url, data=data, auth=auth, timeout=_timeout(), headers={"Accept": "application/json"}
        )
        body = _QuirkHooks(provider)(response).json()
        if "error" in body:
            raise ProviderRejectedCode(f"The provider refused the client credentials ({body['error']}).")
        if not body.get("access_token"):
            raise MissingTokenError()
        return body

    return _token_call(call)


def revoke(*, connection, config: ConnectorConfig | None, credentials: dict) -> bool:
    """Best effort: revoke the refresh (else access) token at the provider. True when it said yes."""
    revoke_template = connection.provider.oauth.get("revoke_url")
    token = credentials.get("refresh_token") or credentials.get("access_token")
    if not revoke_template or not token or config is None or not config.client_id:
        return False
    provider = connection.provider
    data = {"token": token, "token_type_hint": "refresh_token" if credentials.get("refresh_token") else "access_token"}
    auth = None
    if provider.oauth["client_auth"] == "basic":
        auth = HTTPBasicAuth(config.client_id, config.secret_value)
    else:
        data.update(client_id=config.client_id, client_secret=config.secret_value)
    try:
        url = resolve_url(revoke_template, settings=connection.settings, credentials=credentials)
        response = _http().post(url, data=data, auth=auth, timeout=_timeout())
    except (requests.RequestException, SettingsInvalid, InsecureProviderUrl) as exc:
        logger.warning("revoke failed for %s: %s", connection.pk, type(exc).__name__)
        return False
    return response.status_code < 400


@dataclass(frozen=True)
class Verification:
    ok: bool
    status_code: int | None
    message: str
    authentication_failed: bool = False
    deferred: bool = False  # settings the request needs are not filled in yet


def _auth_for(provider: Provider, credentials: dict, settings: dict) -> tuple[dict, dict, HTTPBasicAuth | None]:
    """Headers, query params and basic auth that carry the credentials on a request to the provider."""
    if provider.auth_type in {Provider.AuthType.OAUTH2, Provider.AuthType.OAUTH2_CLIENT_CREDENTIALS}:
        return {"Authorization": f"Bearer {credentials.get('access_token', '')}"}, {}, None
    inject = provider.definition["credentials"]["inject"]
    value = fill_template(inject["value"], settings=settings, credentials=credentials, quote_settings=False)
    if inject["in"] == "header":
        return {inject["name"]: value}, {}, None
    if inject["in"] == "query":
        return {}, {inject["name"]: value}, None
    username, _, password = value.partition(":")
    return {}, {}, HTTPBasicAuth(username, password)


def _provider_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason or f"HTTP {response.status_code}"
    if isinstance(body, dict):
        for key in ("error_description", "message", "error", "detail", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value[:300]
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return value["message"][:300]
    return response.reason or f"HTTP {response.status_code}"


def verify(*, provider: Provider, settings: dict, credentials: dict) -> Verification:
    spec = provider.definition.get("verification")
    if not spec:
        return Verification(ok=True, status_code=None, message="No verification request is defined; assumed working.")
    try:
        url = resolve_url(spec["url"], settings=settings, credentials=credentials)
        auth_headers, params, auth = _auth_for(provider, credentials, settings)
        spec_headers = {
            name: fill_template(value, settings=settings, credentials=credentials, quote_settings=False)
            for name, value in spec.get("headers", {}).items()
        }
    except SettingsInvalid as exc:
        return Verification(
            ok=False, status_code=None, message=f"Waiting for settings: {', '.join(exc.errors)}.", deferred=True
        )
    except InsecureProviderUrl as exc:
        return Verification(ok=False, status_code=None, message=exc.user_message)
    if any("{credentials." in value for value in spec.get("headers", {}).values()):
        auth_headers = {}  # the provider carries the token in its own header (e.g. X-Shopify-Access-Token)
    headers = {"Accept": "application/json", **auth_headers, **spec_headers}
    try:
        response = _http().request(spec["method"], url, headers=headers, params=params, auth=auth, timeout=_timeout())
    except requests.Timeout:
        return Verification(ok=False, status_code=None, message="The provider did not answer in time.")
    except requests.RequestException as exc:
        return Verification(
            ok=False, status_code=None, message=f"The provider could not be reached ({type(exc).__name__})."
        )
    ok = response.status_code in spec["expect_status"]
    if ok and spec.get("ok_field"):
        try:
            ok = bool(response.json().get(spec["ok_field"]))
        except (ValueError, AttributeError):
            ok = False
    if ok:
        return Verification(ok=True, status_code=response.status_code, message="")
    return Verification(
        ok=False,
        status_code=response.status_code,
        message=_provider_message(response),
        authentication_failed=response.status_code in (401, 403),
    )
