"""Customer tokens: what an application minted for its own frontend. Only their hash is stored, and the
console shows neither token nor hash; staff can revoke one through the API's own service."""

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html

from apps.api.models import CustomerToken
from apps.api.services import customer_token_revoke
from apps.console.admin.common import ReadOnlyAdmin, staff_actor, status_badge


class TokenStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True, expires_at__gt=now)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


CUSTOMER_TOKEN_FIELDS = ("id", "application", "customer_display", "state_display", "created_at", "expires_display",
                         "revoked_display", "minted_by")  # fmt: skip


@admin.register(CustomerToken)
class CustomerTokenAdmin(ReadOnlyAdmin):
    list_display = ["id", "customer_display", "application", "state_display", "created_at", "expires_display",
                    "revoked_display", "minted_by"]  # fmt: skip
    list_filter = [TokenStateFilter, ("application", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["=id", "customer__external_id", "customer__name"]
    search_help_text = "Token id (exact), customer external id or customer name."
    list_select_related = ["customer", "application"]
    date_hierarchy = "created_at"
    fields = readonly_fields = CUSTOMER_TOKEN_FIELDS
    actions = ["revoke_tokens"]

    @admin.display(description="Customer", ordering="customer__external_id")
    def customer_display(self, obj):
        return format_html('{} <span class="pb-muted">({})</span>', obj.customer.name or "—", obj.customer.external_id)

    @admin.display(description="State")
    def state_display(self, obj):
        if obj.revoked_at is not None:
            return status_badge("disconnected", "Revoked")
        if obj.expires_at <= timezone.now():
            return status_badge("unknown", "Expired")
        return status_badge("healthy", "Active")

    @admin.display(description="Expires", ordering="expires_at")
    def expires_display(self, obj):
        return obj.expires_at

    @admin.display(description="Revoked", ordering="revoked_at")
    def revoked_display(self, obj):
        return obj.revoked_at or "—"

    @admin.display(description="Minted by")
    def minted_by(self, obj):
        return obj.created_by

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("customer", "application")

    def has_delete_permission(self, request, obj=None):
        return False  # revoking is the way to end one: it is audited, a delete would not be

    def has_operate_permission(self, request) -> bool:
        return request.user.has_perm("api.change_customertoken")

    @admin.action(description="Revoke selected customer tokens", permissions=["operate"])
    def revoke_tokens(self, request, queryset):
        revoked = 0
        for token in queryset.filter(revoked_at__isnull=True).select_related("customer"):
            customer_token_revoke(token=token, actor=staff_actor(request))
            revoked += 1
        self.message_user(request, f"Revoked {revoked} customer token(s).", messages.SUCCESS)
