from django.contrib import admin

from apps.audit.models import AuditEvent
from apps.console.admin.common import ReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """The audit trail: read-only for everyone, superusers included; never deleted through the console."""

    list_display = ["created_at", "action", "actor", "ip_address", "target_type", "target_id", "application"]
    list_filter = ["action", "target_type", "application"]
    search_fields = ["id", "action", "actor", "target_id", "ip_address"]
    list_select_related = ["application"]
    date_hierarchy = "created_at"

    def has_delete_permission(self, request, obj=None):
        return False
