from allauth.mfa.models import Authenticator
from django.contrib import admin

# allauth's own admin shows `data`, which holds the TOTP secret and recovery-code seed: replace it.
if admin.site.is_registered(Authenticator):
    admin.site.unregister(Authenticator)


AUTHENTICATOR_FIELDS = ("user", "type", "created_at", "last_used_at")


@admin.register(Authenticator)
class AuthenticatorAdmin(admin.ModelAdmin):
    """Staff MFA devices. Secrets stay out of the page; deleting one makes its owner enrol again."""

    list_display = ["user", "type", "created_at", "last_used_at"]
    list_filter = ["type", "created_at", "last_used_at"]
    search_fields = ["user__username", "user__email"]
    list_select_related = ["user"]
    fields = readonly_fields = AUTHENTICATOR_FIELDS

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
