from django.contrib import admin

from apps.connect.models import ConnectSession, OAuthAttempt
from apps.console.admin.common import ReadOnlyAdmin, vault_display

CONNECT_SESSION_FIELDS = (
    "id",
    "application",
    "customer",
    "allowed_providers",
    "allowed_origin",
    "return_url",
    "expires_at",
    "used_at",
    "created_at",
)


@admin.register(ConnectSession)
class ConnectSessionAdmin(ReadOnlyAdmin):
    """Sessions are minted by the API; the token itself is never stored (only its hash, not shown)."""

    list_display = ["id", "customer", "application", "allowed_origin", "expires_at", "used_at", "created_at"]
    list_filter = ["application", ("used_at", admin.EmptyFieldListFilter)]
    search_fields = ["id", "customer__external_id", "customer__name", "allowed_origin"]
    list_select_related = ["customer", "application"]
    fields = readonly_fields = CONNECT_SESSION_FIELDS


OAUTH_ATTEMPT_FIELDS = (
    "id",
    "connection",
    "provider",
    "redirect_uri",
    "return_url",
    "code_verifier_status",
    "expires_at",
    "used_at",
    "created_at",
)


@admin.register(OAuthAttempt)
class OAuthAttemptAdmin(ReadOnlyAdmin):
    """One redirect to a provider. The state hash and PKCE verifier stay out of the page."""

    list_display = ["id", "connection", "provider", "expires_at", "used_at", "created_at"]
    list_filter = ["provider", ("used_at", admin.EmptyFieldListFilter)]
    search_fields = ["id", "connection__id"]
    list_select_related = ["connection__provider", "connection__customer", "provider"]
    code_verifier_status = vault_display("code_verifier", "PKCE verifier")
    fields = readonly_fields = OAUTH_ATTEMPT_FIELDS
