"""The connect flow, told once: what happens when a person opens a start link, comes back from the
provider, or posts a settings or credentials form.

Each public function takes what the request carried (a start token, a callback's query parameters, a
form post) and the `Visitor` (who the browser is), and returns one outcome. Views turn the outcome into
a response (and record the grants it carries); a failure a person can cause comes back as `Error`.

    start / start_submit      the start link (GET shows the next step, POST saves a form)
    callback                  the provider's redirect back with `code` and `state`
    setup / setup_submit      the settings still missing after authentication
    setting_choices           one setting's provider-listed choices again (htmx, for dependent settings)
    result                    where a connection stands (done, settings, or back to the start link)
    portal_add, reconnect, credentials_form, credentials_submit, disconnect   the customer portal
    widget_popup              the first page of the embedded widget's sign-in window

Every step resolves the connection's OAuth client once (in `services.oauth_attempt_start` and
`services.oauth_callback_complete`).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from apps.catalog.models import Provider
from apps.connect import forms, selectors, services, widget
from apps.connect.exceptions import (
    ConnectionNotFound,
    PortalSessionMissing,
    ProviderNotAllowed,
    SettingNotFound,
    UnsupportedConnectMethod,
)
from apps.connect.links import start_link_resolve
from apps.connect.portal import PortalBinding, Visitor
from apps.connections import services as connection_services
from apps.connections.exceptions import InvalidCredentials, ProviderUnavailable, SettingsInvalid
from apps.connections.models import Connection
from apps.connections.provider_client import SettingOptions
from apps.connections.settings_spec import settings_needed_before_authorize
from apps.core.errors import PatchbayError
from apps.tenants.models import Application, Customer

CREDENTIAL_AUTH_TYPES = frozenset({Provider.AuthType.API_KEY, Provider.AuthType.BASIC})


# --- outcomes ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RedirectToProvider:
    """Send the browser to the provider's consent page (a fresh single-use OAuth attempt)."""

    connection: Connection
    url: str


@dataclass(frozen=True, kw_only=True)
class SettingsForm:
    """Ask for settings: before the provider sign-in (its URLs need them) or after it (still missing)."""

    connection: Connection
    specs: list[dict]
    values: dict
    before_authorize: bool
    errors: dict = field(default_factory=dict)
    options: dict[str, SettingOptions] | None = None  # provider lists by setting name; None before sign-in

    @property
    def status(self) -> int:
        return 422 if self.errors else 200


@dataclass(frozen=True, kw_only=True)
class SettingChoice:
    """One setting's field again, with the choices the provider lists for the values picked so far."""

    connection: Connection
    spec: dict
    value: str
    options: SettingOptions | None


@dataclass(frozen=True, kw_only=True)
class CredentialsForm:
    """Ask for an API key / user and password; `message` is the provider's refusal of the last try."""

    connection: Connection
    values: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)
    message: str = ""

    @property
    def status(self) -> int:
        return 422 if self.errors or self.message else 200


@dataclass(frozen=True, kw_only=True)
class ResumeAtStart:
    """Continue at the connection's start link (after a form was saved, or while it still waits for sign-in)."""

    connection: Connection


@dataclass(frozen=True, kw_only=True)
class NeedsSettings:
    """Authenticated; settings are still missing."""

    connection: Connection
    return_url: str = ""


@dataclass(frozen=True, kw_only=True)
class Done:
    """Authenticated and configured."""

    connection: Connection
    return_url: str = ""


@dataclass(frozen=True, kw_only=True)
class CredentialsReentry:
    """Show the portal's credentials form for an existing connection."""

    connection: Connection


@dataclass(frozen=True, kw_only=True)
class BackToPortal:
    """Back to the customer's portal list."""


@dataclass(frozen=True, kw_only=True)
class Error:
    """A failure the person can understand: the error page renders `error`."""

    error: PatchbayError


Outcome = (
    RedirectToProvider
    | SettingsForm
    | SettingChoice
    | CredentialsForm
    | ResumeAtStart
    | NeedsSettings
    | Done
    | CredentialsReentry
    | BackToPortal
    | Error
)


def _failures_as_outcome[**P](flow: Callable[P, Outcome]) -> Callable[P, Outcome]:
    @wraps(flow)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Outcome:
        try:
            return flow(*args, **kwargs)
        except PatchbayError as error:
            return Error(error=error)

    return wrapper


# --- the start link ---------------------------------------------------------------------------------------


@_failures_as_outcome
def start(*, token: str, visitor: Visitor) -> Outcome:
    """A visit of `/connect/start/<token>`: re-usable until authenticated, a fresh provider redirect each time."""
    connection = start_link_resolve(token=token)
    if not connection.is_authentication_pending:
        return _authenticated(connection)
    if connection.provider.auth_type in CREDENTIAL_AUTH_TYPES:
        return CredentialsForm(connection=connection)
    if needed := _settings_before_authorize(connection):
        return SettingsForm(connection=connection, specs=needed, values=connection.settings, before_authorize=True)
    return _redirect_to_provider(connection, visitor)


@_failures_as_outcome
def start_submit(*, token: str, visitor: Visitor, data: Mapping[str, Any]) -> Outcome:
    """A form posted to the start link: the provider's credentials, or the settings its sign-in needs."""
    connection = start_link_resolve(token=token)
    if not connection.is_authentication_pending:
        return _authenticated(connection)
    if connection.provider.auth_type in CREDENTIAL_AUTH_TYPES:
        return _credentials_store(connection, visitor, data)
    needed = _settings_before_authorize(connection)
    if not needed:
        return _redirect_to_provider(connection, visitor)
    cleaned, errors = forms.settings_clean(provider=connection.provider, specs=needed, data=data)
    if errors:
        return SettingsForm(connection=connection, specs=needed, values=cleaned, errors=errors, before_authorize=True)
    connection_services.connection_update_settings(connection=connection, settings=cleaned, actor=visitor.actor)
    return ResumeAtStart(connection=connection)


def _settings_before_authorize(connection: Connection) -> list[dict]:
    if connection.provider.auth_type != Provider.AuthType.OAUTH2:
        raise UnsupportedConnectMethod()
    return settings_needed_before_authorize(provider=connection.provider, settings=connection.settings)


def _redirect_to_provider(connection: Connection, visitor: Visitor) -> RedirectToProvider:
    url = services.oauth_attempt_start(
        connection=connection, return_url=visitor.return_url_for(connection), actor=visitor.actor
    )
    return RedirectToProvider(connection=connection, url=url)


def _authenticated(connection: Connection, *, return_url: str = "") -> NeedsSettings | Done:
    if connection.missing_settings:
        return NeedsSettings(connection=connection, return_url=return_url)
    return Done(connection=connection, return_url=return_url)


def _credentials_store(connection: Connection, visitor: Visitor, data: Mapping[str, Any]) -> Outcome:
    """Verify posted credentials at the provider, then store them; every refusal re-asks with a reason."""
    values, errors = forms.credentials_from_post(connection.provider, data)
    if errors:
        return CredentialsForm(connection=connection, errors=errors)
    try:
        connection = connection_services.connection_store_api_credentials(
            connection=connection, credentials=values, actor=visitor.actor
        )
    except SettingsInvalid as exc:
        return CredentialsForm(connection=connection, errors=exc.errors)
    except (InvalidCredentials, ProviderUnavailable) as exc:
        return CredentialsForm(connection=connection, message=exc.message, values=values)
    return _authenticated(connection)


# --- back from the provider -------------------------------------------------------------------------------


@_failures_as_outcome
def callback(*, provider_name: str, params: dict) -> Outcome:
    """The provider's redirect to `/connect/callback/<provider>`: claim the state, exchange the code, store."""
    # The callback proves possession of the state, not who the browser is: audit it as the connect link.
    completed = services.oauth_callback_complete(provider_name=provider_name, params=params, actor="connect_link")
    return _authenticated(completed.connection, return_url=completed.return_url)


# --- after authentication -----------------------------------------------------------------------------


def _user_settings(connection: Connection) -> list[dict]:
    """The settings the person is asked for: not those the provider fills, nor those a chosen option fills."""
    specs = connection.provider.settings_spec
    filled = {(spec["options"] or {}).get("fills") for spec in specs if spec.get("options")}
    return [spec for spec in specs if spec.get("source", "user") == "user" and spec["name"] not in filled]


def _with_chosen_labels(connection: Connection, *, specs: list[dict], values: dict) -> dict:
    """`values` plus, for each setting whose options request `fills` another, the chosen option's label
    there (Business Central: the company's name beside its id); "" when the value is not in the provider's
    list (typed because the list failed). The list is asked again only when the choice changed."""
    stored = connection.settings
    changed = [
        spec
        for spec in specs
        if (fills := (spec["options"] or {}).get("fills"))
        and values.get(spec["name"])
        and (values[spec["name"]] != stored.get(spec["name"]) or not stored.get(fills))
    ]
    if not changed:
        return values
    listed = connection_services.connection_setting_options(connection=connection, specs=changed, values=values)
    labelled = dict(values)
    for spec in changed:
        options = listed.get(spec["name"])
        labels = dict(options.choices) if options is not None else {}
        labelled[spec["options"]["fills"]] = labels.get(str(values[spec["name"]]), "")
    return labelled


def _settings_form(
    connection: Connection, *, specs: list[dict], values: dict, errors: dict | None = None
) -> SettingsForm:
    """The settings form after sign-in: settings with an options request list what the provider offers."""
    options = connection_services.connection_setting_options(connection=connection, specs=specs, values=values)
    return SettingsForm(
        connection=connection,
        specs=specs,
        values=values,
        errors=errors or {},
        before_authorize=False,
        options=options,
    )


@_failures_as_outcome
def setup(*, connection_id: str, visitor: Visitor) -> Outcome:
    connection = _granted_connection(visitor, connection_id)
    return _settings_form(connection, specs=_user_settings(connection), values=connection.settings)


@_failures_as_outcome
def setting_choices(*, connection_id: str, visitor: Visitor, name: str, data: Mapping[str, Any]) -> Outcome:
    """The htmx reload of one setting when a setting it depends on changes (`data` holds the values so far)."""
    connection = _granted_connection(visitor, connection_id)
    spec = next((s for s in _user_settings(connection) if s["name"] == name and s.get("options")), None)
    if spec is None:
        raise SettingNotFound()
    names = {name, spec["options"]["depends_on"]} - {None}
    values = {**connection.settings, **{key: data[key] for key in names if key in data}}
    listed = connection_services.connection_setting_options(connection=connection, specs=[spec], values=values)
    return SettingChoice(connection=connection, spec=spec, value=values.get(name) or "", options=listed.get(name))


@_failures_as_outcome
def setup_submit(*, connection_id: str, visitor: Visitor, data: Mapping[str, Any]) -> Outcome:
    connection = _granted_connection(visitor, connection_id)
    specs = _user_settings(connection)
    cleaned, errors = forms.settings_clean(provider=connection.provider, specs=specs, data=data)
    if not errors:
        try:
            connection = connection_services.connection_update_settings(
                connection=connection,
                settings=_with_chosen_labels(connection, specs=specs, values=cleaned),
                actor=visitor.actor,
            )
        except SettingsInvalid as exc:
            errors = exc.errors
    if errors:
        return _settings_form(connection, specs=specs, values=cleaned, errors=errors)
    return _authenticated(connection)


@_failures_as_outcome
def result(*, connection_id: str, visitor: Visitor) -> Outcome:
    connection = _granted_connection(visitor, connection_id)
    if connection.is_authentication_pending:
        return ResumeAtStart(connection=connection)
    return _authenticated(connection)


def _granted_connection(visitor: Visitor, connection_id: str) -> Connection:
    """The connection if the visitor's portal binding or a finished connect link allows it."""
    connection = None
    if visitor.binding is not None:
        connection = selectors.portal_connection_get(
            application_id=visitor.binding.application_id,
            customer_id=visitor.binding.customer_id,
            connection_id=connection_id,
        )
    if connection is None and (grant := visitor.grants.get(connection_id)):
        connection = selectors.portal_connection_get(application_id=grant["app"], connection_id=connection_id)
    if connection is None:
        raise ConnectionNotFound()
    return connection


# --- the customer portal ----------------------------------------------------------------------------------


def portal_binding(visitor: Visitor) -> PortalBinding:
    """The visitor's portal binding; PortalSessionMissing when the browser has none."""
    if visitor.binding is None:
        raise PortalSessionMissing()
    return visitor.binding


def portal_subject(visitor: Visitor) -> tuple[Application, Customer]:
    """The application and customer the visitor's portal binding is for; PortalSessionMissing otherwise."""
    binding = portal_binding(visitor)
    subject = selectors.portal_subject_get(application_id=binding.application_id, customer_id=binding.customer_id)
    if subject is None:
        raise PortalSessionMissing()
    return subject


def _portal_connection(visitor: Visitor, connection_id: str) -> Connection:
    application, customer = portal_subject(visitor)
    connection = selectors.portal_connection_get(
        application_id=application.pk, customer_id=customer.pk, connection_id=connection_id
    )
    if connection is None:
        raise ConnectionNotFound()
    return connection


@_failures_as_outcome
def portal_add(*, provider_name: str, visitor: Visitor) -> Outcome:
    """Add a connection from the portal's picker; only providers the picker offers can be added."""
    application, customer = portal_subject(visitor)
    provider = (
        selectors.portal_provider_list(
            application=application, allowed_providers=portal_binding(visitor).allowed_providers
        )
        .filter(name=provider_name)
        .first()
    )
    if provider is None:
        raise ProviderNotAllowed()
    connection = connection_services.connection_create(
        application=application, customer=customer, provider=provider, actor=visitor.actor
    )
    if connection.is_authentication_pending:
        return ResumeAtStart(connection=connection)
    return _authenticated(connection)


@_failures_as_outcome
def reconnect(*, connection_id: str, visitor: Visitor) -> Outcome:
    """Reconnect from the portal: a fresh OAuth attempt (or the credential form) even when not pending."""
    return _reconnect(_portal_connection(visitor, connection_id), visitor) or BackToPortal()


def _reconnect(connection: Connection, visitor: Visitor) -> Outcome | None:
    """What reconnecting asks of the person; None when nothing is (client credentials refresh server-side)."""
    if connection.is_authentication_pending:
        return ResumeAtStart(connection=connection)
    auth_type = connection.provider.auth_type
    if auth_type in CREDENTIAL_AUTH_TYPES:
        return CredentialsReentry(connection=connection)
    if auth_type == Provider.AuthType.OAUTH2:
        return _redirect_to_provider(connection, visitor)
    connection_services.connection_refresh_credentials(connection_id=connection.pk, force=True)
    return None


def _credential_connection(visitor: Visitor, connection_id: str) -> Connection:
    connection = _granted_connection(visitor, connection_id)
    if connection.provider.auth_type not in CREDENTIAL_AUTH_TYPES:
        raise UnsupportedConnectMethod()
    return connection


@_failures_as_outcome
def credentials_form(*, connection_id: str, visitor: Visitor) -> Outcome:
    return CredentialsForm(connection=_credential_connection(visitor, connection_id))


@_failures_as_outcome
def credentials_submit(*, connection_id: str, visitor: Visitor, data: Mapping[str, Any]) -> Outcome:
    return _credentials_store(_credential_connection(visitor, connection_id), visitor, data)


@_failures_as_outcome
def disconnect(*, connection_id: str, visitor: Visitor) -> Outcome:
    connection = _portal_connection(visitor, connection_id)
    connection_services.connection_disconnect(connection=connection, actor=visitor.actor)
    return BackToPortal()


# --- the embedded widget's sign-in window -----------------------------------------------------------------


@_failures_as_outcome
def widget_popup(*, signed: str, visitor: Visitor) -> Outcome:
    """The first page of the widget's sign-in window (a link the widget made for one connection and action):
    finish a pending or incomplete connection, or reconnect a working one."""
    connection, action = widget.widget_popup_resolve(signed=signed)
    if connection.is_authentication_pending:
        return ResumeAtStart(connection=connection)
    if action == widget.PopupAction.RECONNECT:
        return _reconnect(connection, visitor) or _authenticated(connection)
    return _authenticated(connection)
