"""Failures of connecting to a provider or using a connection. Each carries a message safe to show (no secrets)."""

from collections.abc import Mapping

from apps.core.errors import PatchbayError


class ConnectError(PatchbayError):
    """A connection could not be made, or a provider call on its behalf failed (refresh and health code
    catches this family; every member is an ordinary PatchbayError)."""


class ConnectorNotConfigured(ConnectError):
    code = "connector_not_configured"
    message = "This integration is not set up yet (no OAuth client). Ask the application's team to configure it."
    status = 409
    title = "This integration is not set up yet"
    resolution = (
        "The application's team adds the provider's OAuth client (POST /api/v1/connector-configs, or the console); "
        "then start the connection again."
    )


class ProviderDeniedConsent(ConnectError):
    code = "consent_denied"
    message = "The connection was not approved at the provider. Start again and approve access to connect."
    status = 400
    title = "Access was not approved"
    resolution = "Start the connection again from the application and approve access on the provider's page."


class InsecureProviderUrl(ConnectError):
    code = "insecure_provider_url"
    message = "The provider's address is not secure (https is required). Check the connection's settings."
    status = 422
    title = "The provider's address is not secure"
    resolution = "Change the connection's settings so the provider's address starts with https://."


class ProviderRejectedCode(ConnectError):
    code = "provider_rejected_code"
    message = "The provider refused the authorization. Start the connection again."
    status = 502
    title = "The provider refused the sign-in"
    resolution = "Start the connection again; if it keeps failing, check the OAuth client's settings at the provider."


class ProviderUnavailable(ConnectError):
    code = "provider_unavailable"
    message = "The provider did not answer in time or had an error. Please try again in a few minutes."
    status = 502
    title = "The provider is not answering"
    resolution = "Try again in a few minutes (after Retry-After, when the answer carries one)."

    def __init__(
        self,
        message: str | None = None,
        *,
        internal_detail: str = "",
        retry_after: int | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message, internal_detail=internal_detail, retry_after=retry_after)
        self.outcome_unknown = outcome_unknown  # the request may have reached the provider and been acted on


class MalformedTokenResponse(ConnectError):
    code = "malformed_token_response"
    message = "The provider answered with a token response Patchbay could not read. Please try again later."
    status = 502
    title = "The provider sent an unreadable answer"
    resolution = "Try again later; if it keeps happening, the provider's token endpoint is misbehaving."


class InvalidCredentials(ConnectError):
    code = "invalid_credentials"
    message = "The provider did not accept these credentials. Check them and try again."
    status = 422
    title = "The provider did not accept the credentials"
    resolution = "Check the credentials (copy them again from the provider's settings) and send them again."


class InvalidGrant(ConnectError):
    code = "invalid_grant"
    message = "The provider revoked this connection's access. Reconnect to restore it."
    status = 409
    title = "Access was revoked"
    resolution = "Reconnect: send the customer through the connect link again to grant access anew."


class ConnectionNotPending(ConnectError):
    code = "connection_not_pending"
    message = "This connection is already connected."
    status = 409
    title = "Already connected"
    resolution = "Nothing to do; to connect again with another account, disconnect the connection first."


class SettingsInvalid(ConnectError):
    code = "settings_invalid"
    message = "Some settings are not valid."
    status = 422
    title = "Some settings are not valid"
    resolution = "Correct the settings named in the message (details.settings) and send them again."

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        summary = "; ".join(f"{name}: {problem}" for name, problem in self.errors.items())
        super().__init__(f"Some settings are not valid: {summary}", details={"settings": self.errors})


class RefreshInProgress(ConnectError):
    code = "refresh_in_progress"
    message = "Another request is refreshing this connection's token right now. Try again in a moment."
    status = 503
    title = "A refresh is in progress"
    resolution = "Try again after the number of seconds in Retry-After."

    def __init__(self, *, retry_after: int) -> None:
        super().__init__(retry_after=retry_after)


class RefreshInterrupted(ConnectError):
    code = "refresh_interrupted"
    message = (
        "A token refresh was interrupted after it was sent and the provider does not accept the previous "
        "refresh token again. Reconnect to restore access."
    )
    status = 409
    title = "The token refresh was interrupted"
    resolution = "Reconnect: send the customer through the connect link again to grant access anew."


class CredentialsExpired(ConnectError):
    code = "credentials_expired"
    message = "The access token has expired and could not be refreshed yet; Patchbay keeps retrying."
    status = 503
    title = "The access token has expired"
    resolution = "Try again later; Patchbay keeps refreshing. If the connection turns disconnected, reconnect it."
