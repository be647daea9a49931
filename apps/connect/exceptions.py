"""Connect-flow failures a person can cause. All are ConnectError, so one template renders every one."""

from apps.connections.exceptions import ConnectError


class ConnectLinkInvalid(ConnectError):
    code = "connect_link_invalid"
    user_message = (
        "This connect link is not valid any more (it may have been replaced after a disconnect). "
        "Ask the application for a new link."
    )
    http_status = 404


class StateUnknown(ConnectError):
    code = "state_unknown"
    user_message = (
        "This sign-in response does not match a connection attempt Patchbay started. "
        "Start the connection again from the application."
    )


class StateUsed(ConnectError):
    code = "state_used"
    user_message = (
        "This sign-in response has already been used. If the connection did not finish, start it again "
        "from the application."
    )


class StateExpired(ConnectError):
    code = "state_expired"
    user_message = "This sign-in took longer than 10 minutes and expired. Start the connection again."


class StateProviderMismatch(ConnectError):
    code = "state_provider_mismatch"
    user_message = (
        "This sign-in response came back for a different provider than the one it was started for. "
        "Start the connection again."
    )


class IssuerMismatch(ConnectError):
    code = "issuer_mismatch"
    user_message = (
        "The sign-in answer did not come from the provider's expected issuer, so it was refused. "
        "Start the connection again."
    )


class ProviderError(ConnectError):
    code = "provider_error"
    user_message = "The provider reported an error and did not grant access. Start the connection again."


class ConnectSessionInvalid(ConnectError):
    code = "connect_session_invalid"
    user_message = "This connect link is not valid. Open the integrations page again from the application."
    http_status = 404


class ConnectSessionExpired(ConnectError):
    code = "connect_session_expired"
    user_message = "This connect link has expired. Open the integrations page again from the application."
    http_status = 410


class ConnectSessionUsed(ConnectError):
    code = "connect_session_used"
    user_message = (
        "This connect link has already been opened once. Open the integrations page again from the application "
        "to get a fresh link."
    )
    http_status = 410


class PortalSessionMissing(ConnectError):
    code = "portal_session_missing"
    user_message = (
        "Your integrations session has ended. Open the integrations page again from the application to continue."
    )
    http_status = 403


class ProviderNotAllowed(ConnectError):
    code = "provider_not_allowed"
    user_message = "This integration is not available here. Pick another one from the list."
    http_status = 404


class UnsupportedConnectMethod(ConnectError):
    code = "unsupported_connect_method"
    user_message = (
        "This integration connects without a sign-in page. Ask the application's team to finish setting it up."
    )
    http_status = 409


class ConnectionNotFound(ConnectError):
    code = "connection_not_found"
    user_message = "This connection was not found here. Go back to the integrations page and pick it from the list."
    http_status = 404


class SettingNotFound(ConnectError):
    code = "setting_not_found"
    user_message = "This setting does not offer a list of choices. Go back to the settings form and try again."
    http_status = 404


class WidgetOriginNotAllowed(ConnectError):
    code = "widget_origin_not_allowed"
    user_message = (
        "This page is not allowed to embed the connect widget. The application must add the page's origin to its "
        "allowed origins (PATCH /api/v1/application) and create a connect session for that origin."
    )
    http_status = 403


class WidgetSessionEnded(ConnectError):
    code = "widget_session_ended"
    user_message = "This connect window has expired. Close it and open it again from the application."
    http_status = 401


class WidgetPopupLinkInvalid(ConnectError):
    code = "widget_popup_link_invalid"
    user_message = "This sign-in window link has expired. Close this window and start again from the application."
    http_status = 410
