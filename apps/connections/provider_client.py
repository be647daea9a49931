"""Everything that talks HTTP to a provider: authorize URLs, code exchange, refresh, revoke, verification.

Every token request (code exchange, refresh, client credentials) is one form POST through
`_token_request`; provider quirks from the catalog are applied to the answer there, so the rest of
Patchbay only ever sees a standard token response.
"""

import base64
import logging
import re
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

import urllib3
from django.conf import settings as django_settings
from urllib3 import exceptions as urllib3_exceptions

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
from apps.connections.models import Connection
from apps.core.http import pool_for, total_deadline
from apps.core.transactions import ensure_no_transaction

logger = logging.getLogger(__name__)

GET_REDIRECTS_FOLLOWED = 5


def _basic_authorization(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode("latin-1")).decode()


class _Unreachable(Exception):
    """No HTTP answer from the provider. `timed_out`: connecting or reading took longer than the timeout;
    `may_have_arrived`: False only when no connection was ever made (refused, DNS), so the provider saw
    nothing."""

    def __init__(self, kind: str, *, timed_out: bool, may_have_arrived: bool):
        super().__init__(kind)
        self.kind = kind
        self.timed_out = timed_out
        self.may_have_arrived = may_have_arrived


def provider_call_seconds() -> float:
    """The longest one provider call lasts, whatever the provider does: the timeout to connect plus the
    timeout to answer (a refresh's lease outlasts it, so no second refresh starts while one is out)."""
    return 2 * django_settings.PATCHBAY_PROVIDER_TIMEOUT_SECONDS


def _send(
    method: str,
    url: str,
    *,
    operation: str,
    headers: dict[str, str],
    form: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    basic_auth: tuple[str, str] | None = None,
) -> urllib3.BaseHTTPResponse:
    """Every request to a provider: no transaction open (checked here), the provider timeout for connecting
    and for reading, provider_call_seconds() for the whole call, no retry. A form POST is never redirected
    (the client secret and the grant stay with the host the catalog names); a GET follows up to
    GET_REDIRECTS_FOLLOWED redirects, without its Authorization header across hosts."""
    ensure_no_transaction(operation=f"provider {operation}")
    if params:
        url = _with_query(url, params)
    headers = dict(headers)
    if basic_auth is not None:
        headers["Authorization"] = _basic_authorization(*basic_auth)
    body = None
    if form is not None:
        body = urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    timeout = django_settings.PATCHBAY_PROVIDER_TIMEOUT_SECONDS
    redirects = urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=GET_REDIRECTS_FOLLOWED)
    with total_deadline(provider_call_seconds()) as deadline:
        try:
            response = pool_for(url).request(
                method,
                url,
                body=body,
                headers=headers,
                timeout=urllib3.Timeout(connect=timeout, read=timeout),
                retries=redirects if method == "GET" else False,
                redirect=method == "GET",
            )
        except (urllib3_exceptions.HTTPError, OSError) as exc:
            if deadline.passed:
                raise _cut_off() from None
            _raise_unreachable(exc)
        if deadline.passed:  # an answer cut short can still parse: "HTTP/1.1 200" with the rest cut off
            raise _cut_off()
        return response


def _cut_off() -> _Unreachable:
    """The call ran into provider_call_seconds(): whatever came back may be cut short."""
    return _Unreachable("Timeout", timed_out=True, may_have_arrived=True)


def _raise_unreachable(exc: Exception) -> NoReturn:
    """The _Unreachable for an error that ended a request before any answer."""
    # With a redirect budget urllib3 wraps the error that ended the request in a MaxRetryError.
    error = exc.reason if isinstance(exc, urllib3_exceptions.MaxRetryError) and exc.reason else exc
    if isinstance(error, urllib3_exceptions.ResponseError):
        raise _Unreachable("TooManyRedirects", timed_out=False, may_have_arrived=True) from None
    if isinstance(error, urllib3_exceptions.NewConnectionError):
        raise _Unreachable(type(error).__name__, timed_out=False, may_have_arrived=False) from None
    timed_out = isinstance(error, urllib3_exceptions.TimeoutError)
    raise _Unreachable(type(error).__name__, timed_out=timed_out, may_have_arrived=True) from None


def fill_template(
    template: str, *, settings: dict | None = None, credentials: dict | None = None, quote_settings: bool = True
) -> str:
    """Fill {base_url}, {settings.x} and {credentials.x}; a missing setting is a SettingsInvalid."""
    text = template.replace("{base_url}", django_settings.PATCHBAY_BASE_URL)
    settings = settings or {}
    credentials = credentials or {}
    missing: dict[str, str] = {}

    def substitute(match: re.Match[str]) -> str:
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


def requested_scopes(*, connection: Connection, config: ConnectorConfig) -> list[str]:
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


def authorize_url(
    *, connection: Connection, config: ConnectorConfig | None, redirect_uri: str, state: str, code_challenge: str | None
) -> str:
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


def dig(data: Any, dotted: str) -> Any:
    """The value at a dotted path ("team.id") in a JSON answer; None where the path leaves the objects."""
    for part in dotted.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _normalize_token_body(provider: Provider, body: dict) -> dict:
    """Apply the provider's token_quirks so the rest of Patchbay sees a standard RFC 6749 §5.1 response."""
    quirks = provider.oauth.get("token_quirks") or {}
    ok_field = quirks.get("error_field_when_ok")
    if ok_field and body.get(ok_field) is False:
        body = {"error": body.get("error") or "invalid_request", "error_description": body.get("error", "")}
    path = quirks.get("access_token_path")
    if path and "access_token" not in body and dig(body, path):
        body["access_token"] = dig(body, path)
    scope_field = quirks.get("scope_field")
    if scope_field and scope_field in body and "scope" not in body:
        body["scope"] = body[scope_field]
    if isinstance(body.get("scope"), list):
        body["scope"] = " ".join(body["scope"])
    elif isinstance(body.get("scope"), str) and quirks.get("scope_separator", " ") != " ":
        body["scope"] = " ".join(s for s in body["scope"].split(quirks["scope_separator"]) if s)
    if isinstance(body.get("expires_in"), str) and body["expires_in"].isdigit():
        body["expires_in"] = int(body["expires_in"])
    return body


def _retry_after_seconds(response: urllib3.BaseHTTPResponse) -> int | None:
    value = response.headers.get("Retry-After", "").strip()
    return int(value) if value.isdigit() else None


def _client_authentication(provider: Provider, config: ConnectorConfig) -> tuple[tuple[str, str] | None, dict]:
    """Basic auth, or the form fields, that identify the OAuth client on a token or revoke request.

    RFC 6749 §2.3.1: for basic auth the id and secret are form-urlencoded before base64, so a secret
    such as `s3cret+/=a` reaches a compliant server intact.
    """
    if provider.oauth["client_auth"] == "basic":
        return (quote_plus(config.client_id), quote_plus(config.secret_value)), {}
    return None, {"client_id": config.client_id, "client_secret": config.secret_value}


def _token_request(*, provider: Provider, config: ConnectorConfig, token_url: str, form: dict) -> dict:
    """POST one grant to the token endpoint and return the standard token response, or raise."""
    auth, client_fields = _client_authentication(provider, config)
    try:
        response = _send(
            "POST",
            token_url,
            operation="token request",
            headers={"Accept": "application/json"},
            form={**form, **client_fields},
            basic_auth=auth,
        )
    except _Unreachable as exc:
        if exc.timed_out:
            raise ProviderUnavailable(internal_detail="token endpoint timed out", outcome_unknown=True) from None
        raise ProviderUnavailable(
            internal_detail=f"token endpoint unreachable ({exc.kind})", outcome_unknown=exc.may_have_arrived
        ) from None
    status = response.status
    if status == 429 or status >= 500:
        raise ProviderUnavailable(
            internal_detail=f"token endpoint answered {status}", retry_after=_retry_after_seconds(response)
        )
    try:
        body = response.json()
    except ValueError:
        text = response.data.decode(errors="replace")
        if 200 <= status < 300 and "access_token=" in text:
            body = dict(parse_qsl(text))  # form-encoded token responses (older GitHub apps)
        else:
            raise MalformedTokenResponse(internal_detail=f"token endpoint answered {status} without JSON") from None
    if not isinstance(body, dict):
        raise MalformedTokenResponse(internal_detail="token response is not a JSON object")
    body = _normalize_token_body(provider, body)
    error = body.get("error")
    if error == "invalid_grant":
        raise InvalidGrant(internal_detail=str(body.get("error_description") or error))
    if error or status >= 400:
        error = error or f"HTTP {status}"
        raise ProviderRejectedCode(
            f"The provider refused the authorization ({error}). Start the connection again.",
            internal_detail=str(body.get("error_description") or ""),
        )
    if not isinstance(body.get("access_token"), str) or not body["access_token"]:
        raise MalformedTokenResponse(internal_detail="token response has no access_token")
    return body


def _token_url(connection: Connection, *, refresh: bool = False) -> str:
    oauth = connection.provider.oauth
    template = (oauth.get("refresh_url") if refresh else None) or oauth["token_url"]
    return resolve_url(template, settings=connection.settings)


def exchange_code(
    *, connection: Connection, config: ConnectorConfig | None, code: str, redirect_uri: str, code_verifier: str | None
) -> dict:
    config = _require_client(config)
    provider = connection.provider
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    form.update(provider.oauth.get("token_params") or {})
    if code_verifier:
        form["code_verifier"] = code_verifier
    try:
        return _token_request(provider=provider, config=config, token_url=_token_url(connection), form=form)
    except InvalidGrant:
        # On a code exchange invalid_grant means this code (or its PKCE verifier) was refused, not that a
        # working connection was revoked: the person must start again.
        raise ProviderRejectedCode() from None


def refresh_token(*, connection: Connection, config: ConnectorConfig | None, refresh_token_value: str) -> dict:
    config = _require_client(config)
    return _token_request(
        provider=connection.provider,
        config=config,
        token_url=_token_url(connection, refresh=True),
        form={"grant_type": "refresh_token", "refresh_token": refresh_token_value},
    )


def fetch_client_credentials_token(*, connection: Connection, config: ConnectorConfig | None) -> dict:
    config = _require_client(config)
    provider = connection.provider
    scopes = requested_scopes(connection=connection, config=config)
    form = {"grant_type": "client_credentials", **(provider.oauth.get("token_params") or {})}
    if scopes:
        form["scope"] = provider.oauth["scope_separator"].join(scopes)
    return _token_request(provider=provider, config=config, token_url=_token_url(connection), form=form)


def revoke(*, connection: Connection, config: ConnectorConfig | None, credentials: dict) -> bool:
    """Best effort: revoke the refresh (else access) token at the provider. True when it said yes."""
    revoke_template = connection.provider.oauth.get("revoke_url")
    token = credentials.get("refresh_token") or credentials.get("access_token")
    if not revoke_template or not token or config is None or not config.client_id:
        return False
    auth, client_fields = _client_authentication(connection.provider, config)
    hint = "refresh_token" if credentials.get("refresh_token") else "access_token"
    try:
        url = resolve_url(revoke_template, settings=connection.settings, credentials=credentials)
        response = _send(
            "POST",
            url,
            operation="token revocation",
            headers={},
            form={"token": token, "token_type_hint": hint, **client_fields},
            basic_auth=auth,
        )
    except (_Unreachable, SettingsInvalid, InsecureProviderUrl) as exc:
        logger.warning("revoke failed for %s: %s", connection.pk, getattr(exc, "kind", type(exc).__name__))
        return False
    return response.status < 400


@dataclass(frozen=True)
class Verification:
    ok: bool
    status_code: int | None
    message: str
    authentication_failed: bool = False
    deferred: bool = False  # settings the request needs are not filled in yet
    unverified: bool = False  # the catalog has no verification request: accepted, but nothing was checked


NOTHING_TO_VERIFY = Verification(
    ok=True,
    status_code=None,
    message=(
        "Not verified: the catalog defines no verification request for this provider, "
        "so Patchbay stored the credentials without checking them."
    ),
    unverified=True,
)


def _auth_for(provider: Provider, credentials: dict, settings: dict) -> tuple[dict, dict]:
    """Headers and query params that carry the credentials on a request to the provider."""
    if provider.auth_type in {Provider.AuthType.OAUTH2, Provider.AuthType.OAUTH2_CLIENT_CREDENTIALS}:
        return {"Authorization": f"Bearer {credentials.get('access_token', '')}"}, {}
    inject = provider.definition["credentials"]["inject"]
    value = fill_template(inject["value"], settings=settings, credentials=credentials, quote_settings=False)
    if inject["in"] == "header":
        return {inject["name"]: value}, {}
    if inject["in"] == "query":
        return {}, {inject["name"]: value}
    username, _, password = value.partition(":")
    return {"Authorization": _basic_authorization(username, password)}, {}


def _provider_message(response: urllib3.BaseHTTPResponse) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason or f"HTTP {response.status}"
    if isinstance(body, dict):
        for key in ("error_description", "message", "error", "detail", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value[:300]
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return value["message"][:300]
    return response.reason or f"HTTP {response.status}"


def verify(*, provider: Provider, settings: dict, credentials: dict) -> Verification:
    spec = provider.definition.get("verification")
    if not spec:
        return NOTHING_TO_VERIFY
    try:
        url = resolve_url(spec["url"], settings=settings, credentials=credentials)
        auth_headers, params = _auth_for(provider, credentials, settings)
        spec_headers = {
            name: fill_template(value, settings=settings, credentials=credentials, quote_settings=False)
            for name, value in spec.get("headers", {}).items()
        }
    except SettingsInvalid as exc:
        return Verification(
            ok=False, status_code=None, message=f"Waiting for settings: {', '.join(exc.errors)}.", deferred=True
        )
    except InsecureProviderUrl as exc:
        return Verification(ok=False, status_code=None, message=exc.message)
    if any("{credentials." in value for value in spec.get("headers", {}).values()):
        auth_headers = {}  # the provider carries the token in its own header (e.g. X-Shopify-Access-Token)
    headers = {"Accept": "application/json", **auth_headers, **spec_headers}
    try:
        response = _send(spec["method"], url, operation="verification request", headers=headers, params=params)
    except _Unreachable as exc:
        if exc.timed_out:
            return Verification(ok=False, status_code=None, message="The provider did not answer in time.")
        return Verification(ok=False, status_code=None, message=f"The provider could not be reached ({exc.kind}).")
    ok = response.status in spec["expect_status"]
    if ok and spec.get("ok_field"):
        try:
            ok = bool(response.json().get(spec["ok_field"]))
        except (ValueError, AttributeError):
            ok = False
    if ok:
        return Verification(ok=True, status_code=response.status, message="")
    return Verification(
        ok=False,
        status_code=response.status,
        message=_provider_message(response),
        authentication_failed=response.status in (401, 403),
    )


@dataclass(frozen=True)
class SettingOptions:
    """The values a setting can take, as the provider listed them; `error` says why there is no list."""

    choices: list[tuple[str, str]]  # (value, label)
    error: str = ""


MAX_SETTING_OPTIONS = 500


def setting_options(*, provider: Provider, request: dict, settings: dict, credentials: dict) -> SettingOptions:
    """Run a setting's options request (catalog `settings[].options`) with the connection's credentials."""
    try:
        url = resolve_url(request["url"], settings=settings, credentials=credentials)
        auth_headers, params = _auth_for(provider, credentials, settings)
    except (SettingsInvalid, InsecureProviderUrl) as exc:
        return SettingOptions(choices=[], error=exc.message)
    try:
        response = _send(
            "GET",
            url,
            operation="setting options request",
            headers={"Accept": "application/json", **auth_headers},
            params=params,
        )
    except _Unreachable as exc:
        if exc.timed_out:
            return SettingOptions(choices=[], error=f"{provider.display_name} did not answer in time.")
        return SettingOptions(choices=[], error=f"{provider.display_name} could not be reached ({exc.kind}).")
    if response.status >= 400:
        message = _provider_message(response)
        return SettingOptions(choices=[], error=f"{provider.display_name} answered {response.status}: {message}")
    try:
        body = response.json()
    except ValueError:
        return SettingOptions(choices=[], error=f"{provider.display_name} sent a list Patchbay could not read.")
    items = dig(body, request["items"]) if request["items"] else body
    if not isinstance(items, list):
        return SettingOptions(choices=[], error=f"{provider.display_name} sent a list Patchbay could not read.")
    choices = []
    for item in items[:MAX_SETTING_OPTIONS]:
        if not isinstance(item, dict):
            continue
        value = dig(item, request["value"])
        if value in (None, ""):
            continue
        label = dig(item, request["label"])
        choices.append((str(value), str(label) if label not in (None, "") else str(value)))
    return SettingOptions(choices=choices)
