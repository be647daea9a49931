from django.contrib import admin

from apps.core.admin import ReadOnlyAdmin
from apps.webhooks.models import WebhookDelivery


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "event_type",
        "application",
        "status",
        "attempts",
        "last_response_status",
        "next_attempt_at",
        "delivered_at",
        "created_at",
    ]
    list_filter = ["status", "event_type", "application"]
    search_fields = ["id", "event_type", "url", "application__name"]
    list_select_related = ["application"]
    date_hierarchy = "created_at"
