from django.contrib import admin, messages

from apps.console.admin.common import ReadOnlyAdmin
from apps.webhooks.models import WebhookDelivery
from apps.webhooks.services import webhook_deliveries_queue


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["id", "event_type", "application", "status", "attempts", "last_response_status",
                    "next_attempt_at", "delivered_at", "created_at"]  # fmt: skip
    list_filter = ["status", "event_type", "application"]
    search_fields = ["id", "event_type", "url", "application__name"]
    list_select_related = ["application"]
    date_hierarchy = "created_at"
    actions = ["deliver_now"]

    @admin.action(description="Try pending deliveries now", permissions=["view"])
    def deliver_now(self, request, queryset):
        queued = webhook_deliveries_queue(delivery_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Queued {queued} pending delivery attempt(s).", messages.SUCCESS)
