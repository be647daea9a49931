"""Shared admin helpers (vault masking, staff actor names) and the AuditEvent admin."""

from django.contrib import admin

from apps.core.models import AuditEvent

SET = "•••• (set)"
NOT_SET = "— (not set)"


def vault_status(obj, field_name: str) -> str:
    """Whether a vault column holds a value, read from the raw column: the secret is never decrypted."""
    if obj is None or obj.pk is None:
        return NOT_SET
    field = obj._meta.get_field(field_name)
    return SET if obj.__dict__.get(field.attname) else NOT_SET


def vault_display(field_name: str, label: str):
    """A read-only admin column/field showing only whether the encrypted `field_name` is set."""

    @admin.display(description=label)
    def display(self, obj):
        return vault_status(obj, field_name)

    display.__name__ = f"{field_name}_status"
    return display


def staff_actor(request) -> str:
    return f"staff:{request.user.get_username()}"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by services: staff may look, not add or edit."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "action", "actor", "target_type", "target_id", "application"]
    list_filter = ["action", "target_type", "application"]
    search_fields = ["id", "action", "actor", "target_id"]
    list_select_related = ["application"]
    date_hierarchy = "created_at"

    def has_delete_permission(self, request, obj=None):
        return False
