from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html

from apps.audit.services import audit_url
from apps.console.admin.common import OneChoiceFilter, ReadOnlyAdmin, staff_actor, status_badge
from apps.console.selectors import RECENT
from apps.webhooks.models import WebhookDelivery
from apps.webhooks.services import webhook_deliveries_queue, webhook_delivery_resend


class FailingDeliveryFilter(OneChoiceFilter):
    title = "needs attention"
    parameter_name = "failing"
    choice = "Failing in the last 24 h"

    def matching(self, queryset):
        return (
            queryset.filter(modified_at__gte=timezone.now() - RECENT)
            .exclude(last_error="")
            .exclude(status=WebhookDelivery.Status.DELIVERED)
        )


WEBHOOK_DELIVERY_FIELDS = ("id", "application", "event_type", "destination", "status_display", "attempts",
                           "next_attempt_at", "last_response_status", "last_latency_ms", "last_error",
                           "last_response_excerpt", "delivered_at", "resent_from", "payload", "created_at",
                           "modified_at")  # fmt: skip


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    """What was sent where and what came back. Written by the sender only; staff can resend."""

    list_display = ["created_at", "event_type", "application", "status_display", "last_response_status",
                    "last_latency_ms", "attempts", "next_attempt_at", "excerpt"]  # fmt: skip
    list_filter = [FailingDeliveryFilter, "status", "event_type", "application"]
    search_fields = ["=id", "event_type", "application__name"]  # not the URL: it may carry a token
    list_select_related = ["application"]
    date_hierarchy = "created_at"
    actions = ["resend", "deliver_now"]
    fields = readonly_fields = WEBHOOK_DELIVERY_FIELDS

    @admin.display(description="URL")
    def destination(self, obj):
        """Where the event went, without the receiver's token (the application's form shows the full URL)."""
        return audit_url(obj.url)

    @admin.display(description="Status", ordering="status")
    def status_display(self, obj):
        return status_badge(obj.status, obj.get_status_display())

    @admin.display(description="Response")
    def excerpt(self, obj):
        text = obj.last_response_excerpt or obj.last_error
        return format_html('<span class="pb-excerpt">{}</span>', text[:120]) if text else "—"

    def has_operate_permission(self, request) -> bool:
        return request.user.has_perm("webhooks.change_webhookdelivery")

    @admin.action(description="Resend (same event, to the application's current webhook URL)", permissions=["operate"])
    def resend(self, request, queryset):
        resent = [
            webhook_delivery_resend(delivery=delivery, actor=staff_actor(request))
            for delivery in queryset.select_related("application")
        ]
        self.message_user(request, f"Resent {len(resent)} delivery(ies).", messages.SUCCESS)

    @admin.action(description="Try pending deliveries now", permissions=["operate"])
    def deliver_now(self, request, queryset):
        queued = webhook_deliveries_queue(delivery_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Queued {queued} pending delivery attempt(s).", messages.SUCCESS)
