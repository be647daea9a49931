"""Connect-flow failures a person can cause. Like every PatchbayError, one template renders each of them."""

from apps.connections.exceptions import ConnectError

START_AGAIN = "Start the connection again from the application."
OPEN_PORTAL_AGAIN = "Open the integrations page again from the application; it hands out a fresh link."


class ConnectLinkInvalid(ConnectError):
    code = "connect_link_invalid"
    message = (
        "This connect link is not valid any more (it may have been replaced after a disconnect). "
        "Ask the application for a new link."
    )
    status = 404
    title = "This link is no longer valid"
    resolution = "Ask the application for a new connect link (its API returns one with each connection)."


class StateUnknown(ConnectError):
    code = "state_unknown"
    message = (
        "This sign-in response does not match a connection attempt Patchbay started. "
        "Start the connection again from the application."
    )
    status = 400
    title = "We could not match this sign-in"
    resolution = START_AGAIN


class StateUsed(ConnectError):
    code = "state_used"
    message = (
        "This sign-in response has already been used. If the connection did not finish, start it again "
        "from the application."
    )
    status = 400
    title = "This sign-in was already used"
    resolution = "Check the connection in the application; if it is not connected, start it again from there."


class StateExpired(ConnectError):
    code = "state_expired"
    message = "This sign-in took longer than 10 minutes and expired. Start the connection again."
    status = 400
    title = "This sign-in expired"
    resolution = START_AGAIN + " Finish the provider's sign-in within 10 minutes."


class StateProviderMismatch(ConnectError):
    code = "state_provider_mismatch"
    message = (
        "This sign-in response came back for a different provider than the one it was started for. "
        "Start the connection again."
    )
    status = 400
    title = "This sign-in came back from the wrong provider"
    resolution = START_AGAIN


class IssuerMismatch(ConnectError):
    code = "issuer_mismatch"
    message = (
        "The sign-in answer did not come from the provider's expected issuer, so it was refused. "
        "Start the connection again."
    )
    status = 400
    title = "The sign-in came from an unexpected issuer"
    resolution = START_AGAIN + " If it happens again, tell the application's team: the answer may have been forged."


class ProviderError(ConnectError):
    code = "provider_error"
    message = "The provider reported an error and did not grant access. Start the connection again."
    status = 400
    title = "The provider did not grant access"
    resolution = START_AGAIN + " If the provider shows an error again, check the account's permissions there."


class ConnectSessionInvalid(ConnectError):
    code = "connect_session_invalid"
    message = "This connect link is not valid. Open the integrations page again from the application."
    status = 404
    title = "This link is not valid"
    resolution = OPEN_PORTAL_AGAIN


class ConnectSessionExpired(ConnectError):
    code = "connect_session_expired"
    message = "This connect link has expired. Open the integrations page again from the application."
    status = 410
    title = "This link has expired"
    resolution = OPEN_PORTAL_AGAIN


class ConnectSessionUsed(ConnectError):
    code = "connect_session_used"
    message = (
        "This connect link has already been opened once. Open the integrations page again from the application "
        "to get a fresh link."
    )
    status = 410
    title = "This link was already used"
    resolution = OPEN_PORTAL_AGAIN


class PortalSessionMissing(ConnectError):
    code = "portal_session_missing"
    message = "Your integrations session has ended. Open the integrations page again from the application to continue."
    status = 403
    title = "Your session has ended"
    resolution = OPEN_PORTAL_AGAIN


class ProviderNotAllowed(ConnectError):
    code = "provider_not_allowed"
    message = "This integration is not available here. Pick another one from the list."
    status = 404
    title = "This integration is not available"
    resolution = "Go back to the integrations page and pick one from its list."


class UnsupportedConnectMethod(ConnectError):
    code = "unsupported_connect_method"
    message = "This integration connects without a sign-in page. Ask the application's team to finish setting it up."
    status = 409
    title = "This integration has no sign-in page"
    resolution = "Ask the application's team to finish setting this connection up."


class ConnectionNotFound(ConnectError):
    code = "connection_not_found"
    message = "This connection was not found here. Go back to the integrations page and pick it from the list."
    status = 404
    title = "Connection not found"
    resolution = "Go back to the integrations page and pick the connection from its list."


class SettingNotFound(ConnectError):
    code = "setting_not_found"
    message = "This setting does not offer a list of choices. Go back to the settings form and try again."
    status = 404
    title = "This setting has no choices"
    resolution = "Go back to the settings form and type the value in."


class WidgetOriginNotAllowed(ConnectError):
    code = "widget_origin_not_allowed"
    message = (
        "This page is not allowed to embed the connect widget. The application must add the page's origin to its "
        "allowed origins (PATCH /api/v1/application) and create a connect session for that origin."
    )
    status = 403
    title = "This page may not embed the widget"
    resolution = (
        "Add the page's origin to the application's allowed origins (PATCH /api/v1/application), then create "
        "a connect session for that origin."
    )


class WidgetSessionEnded(ConnectError):
    code = "widget_session_ended"
    message = "This connect window has expired. Close it and open it again from the application."
    status = 401
    title = "This connect window has expired"
    resolution = "Close the window and open it again from the application."


class WidgetPopupLinkInvalid(ConnectError):
    code = "widget_popup_link_invalid"
    message = "This sign-in window link has expired. Close this window and start again from the application."
    status = 410
    title = "This sign-in window has expired"
    resolution = "Close this window and start again from the application."


class CrossSiteWidgetRequest(ConnectError):
    code = "cross_site"
    message = "Widget requests must come from the widget's own page."
    status = 403
    title = "Request refused"
    resolution = "Call the widget's endpoints only from the widget's own frame (connect.js sets it up)."
