"""Failures a person or an application can cause. Each carries a message safe to show (no secrets)."""


class ConnectError(Exception):
    code = "connect_error"
    user_message = "Something went wrong while connecting. Please try again."
    http_status = 400

    def __init__(self, user_message: str | None = None, *, detail: str = ""):
        if user_message:
            self.user_message = user_message
        self.detail = detail
        super().__init__(self.user_message)


class ConnectorNotConfigured(ConnectError):
    code = "connector_not_configured"
    user_message = "This integration is not set up yet (no OAuth client). Ask the application's team to configure it."
    http_status = 409


class ProviderDeniedConsent(ConnectError):
    code = "consent_denied"
    user_message = "The connection was not approved at the provider. Start again and approve access to connect."


class InsecureProviderUrl(ConnectError):
    code = "insecure_provider_url"
    user_message = "The provider's address is not secure (https is required). Check the connection's settings."
    http_status = 422


class ProviderRejectedCode(ConnectError):
    code = "provider_rejected_code"
    user_message = "The provider refused the authorization. Start the connection again."
    http_status = 502


class ProviderUnavailable(ConnectError):
    code = "provider_unavailable"
    user_message = "The provider did not answer in time or had an error. Please try again in a few minutes."
    http_status = 502

    def __init__(
        self,
        user_message: str | None = None,
        *,
        detail: str = "",
        retry_after: int | None = None,
        outcome_unknown: bool = False,
    ):
        super().__init__(user_message, detail=detail)
        self.retry_after = retry_after  # seconds the provider asked us to wait (Retry-After)
        self.outcome_unknown = outcome_unknown  # the request may have reached the provider and been acted on


class MalformedTokenResponse(ConnectError):
    code = "malformed_token_response"
    user_message = "The provider answered with a token response Patchbay could not read. Please try again later."
    http_status = 502


class InvalidCredentials(ConnectError):
    code = "invalid_credentials"
    user_message = "The provider did not accept these credentials. Check them and try again."
    http_status = 422


class InvalidGrant(ConnectError):
    code = "invalid_grant"
    user_message = "The provider revoked this connection's access. Reconnect to restore it."
    http_status = 409


class ConnectionNotPending(ConnectError):
    code = "connection_not_pending"
    user_message = "This connection is already connected."
    http_status = 409


class SettingsInvalid(ConnectError):
    code = "settings_invalid"
    user_message = "Some settings are not valid."
    http_status = 422

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("Some settings are not valid: " + "; ".join(f"{k}: {v}" for k, v in errors.items()))


class RefreshInProgress(ConnectError):
    code = "refresh_in_progress"
    user_message = "Another request is refreshing this connection's token right now. Try again in a moment."
    http_status = 503

    def __init__(self, *, retry_after: int):
        super().__init__()
        self.retry_after = retry_after


class RefreshInterrupted(ConnectError):
    code = "refresh_interrupted"
    user_message = (
        "A token refresh was interrupted after it was sent and the provider does not accept the previous "
        "refresh token again. Reconnect to restore access."
    )
    http_status = 409


class CredentialsExpired(ConnectError):
    code = "credentials_expired"
    user_message = "The access token has expired and could not be refreshed yet; Patchbay keeps retrying."
    http_status = 503
