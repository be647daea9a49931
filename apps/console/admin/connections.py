"""Connections as support people see them: who, which provider, is it working, and the repair actions."""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from apps.catalog.models import Provider
from apps.connect.links import authorization_url
from apps.connections.models import Connection, ConnectionModel, RefreshEvent, SyncRun
from apps.connections.services import (
    connection_create,
    connection_delete,
    connection_disconnect,
    connection_model_update,
    connection_update,
)
from apps.console.admin.common import (
    OneChoiceFilter,
    ReadOnlyAdmin,
    ServiceDeleteAdmin,
    ServiceForm,
    ServiceFormAdmin,
    category_label,
    staff_actor,
    status_badge,
)
from apps.console.selectors import FAILING_STATUSES, RECENT, connection_timeline
from apps.console.services import (
    connection_check_health_by_staff,
    connection_reconnect_link_by_staff,
    connection_refresh_by_staff,
)
from apps.core.errors import PatchbayError
from apps.tenants.models import Customer


class ConnectionAddForm(ServiceForm):
    class Meta:
        model = Connection
        fields = ["application", "customer", "provider", "display_name", "settings", "metadata"]

    def clean(self):
        super().clean()
        data = self.cleaned_data
        application, customer = data.get("application"), data.get("customer")
        if application and customer and customer.application_id != application.pk:
            raise ValidationError({"customer": "This customer belongs to another application."})
        if self.errors:
            return data
        self.call_service(
            lambda: connection_create(
                application=data["application"],
                customer=data["customer"],
                provider=data["provider"],
                display_name=data.get("display_name") or "",
                settings=data.get("settings") or None,
                metadata=data.get("metadata") or None,
                actor=staff_actor(self.request),
            )
        )
        return data


class ConnectionChangeForm(ServiceForm):
    class Meta:
        model = Connection
        fields = ["display_name", "is_sync_disabled", "settings", "metadata"]
        labels = {"is_sync_disabled": "Sync disabled"}
        help_texts = {"settings": "JSON object; keys and values are checked against the provider's settings."}

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if self.errors or not self.has_changed():
            return data
        original = Connection.objects.get(pk=self.instance.pk)
        metadata = data.get("metadata") or {}
        # connection_update shallow-merges metadata; a key removed in the form is deleted with None.
        metadata_patch = {**dict.fromkeys(original.metadata.keys() - metadata.keys()), **metadata}
        self.call_service(
            lambda: connection_update(
                connection=original,
                display_name=data.get("display_name") or "",
                settings=data.get("settings") or {},
                metadata=metadata_patch,
                is_sync_disabled=data.get("is_sync_disabled", False),
                actor=staff_actor(self.request),
            )
        )
        return data


class ConnectionModelForm(ServiceForm):
    """Reads and writes of one synced model, on or off, through connection_model_update."""

    class Meta:
        model = ConnectionModel
        fields = ["is_read_enabled", "is_write_enabled"]

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if self.errors or not self.has_changed():
            return data
        self.call_service(
            lambda: connection_model_update(
                model=self.instance,
                is_read_enabled=data.get("is_read_enabled"),
                is_write_enabled=data.get("is_write_enabled"),
                actor=staff_actor(self.request),
            )
        )
        return data


class ConnectionModelFormSet(BaseInlineFormSet):
    """The synced-model rows on a connection's page. Each changed row was saved by connection_model_update in
    its form's clean(); saving the formset only reports those rows to the admin's change message."""

    def save(self, commit=True):
        self.new_objects, self.deleted_objects = [], []
        self.changed_objects = [(form.instance, form.changed_data) for form in self.initial_forms if form.has_changed()]
        return [instance for instance, _ in self.changed_objects]


class ConnectionModelInline(admin.TabularInline):
    model = ConnectionModel
    form = ConnectionModelForm
    formset = ConnectionModelFormSet
    verbose_name = "synced model"
    verbose_name_plural = "synced models"
    fields = ["display_name", "name", "is_read_enabled", "is_write_enabled", "next_sync_at", "last_sync"]
    readonly_fields = ["display_name", "name", "next_sync_at", "last_sync"]
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("last_sync")

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.form.request = request  # type: ignore[attr-defined]  # a form subclass made for this request
        return formset

    def has_add_permission(self, request, obj=None):
        return False


RECENT_SYNC_RUNS = 10


class RecentRunsFormSet(BaseInlineFormSet):
    """The newest RECENT_SYNC_RUNS runs only (a connection syncs for years); read once, then reused."""

    def get_queryset(self):
        if not hasattr(self, "_recent_runs"):
            self._recent_runs = super().get_queryset()[:RECENT_SYNC_RUNS]
        return self._recent_runs


class SyncRunInline(admin.TabularInline):
    model = SyncRun
    formset = RecentRunsFormSet
    verbose_name = "sync run"
    verbose_name_plural = f"recent sync runs (newest {RECENT_SYNC_RUNS}; all under Sync runs)"
    fields = readonly_fields = (
        "model",
        "status_display",
        "attempt",
        "is_initial_sync",
        "started_at",
        "completed_at",
        "error",
    )
    ordering = ["-created_at", "-id"]
    extra = 0
    show_change_link = True

    @admin.display(description="Status")
    def status_display(self, obj):
        return status_badge(obj.status, obj.get_status_display())

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("model")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class FailingFilter(OneChoiceFilter):
    title = "needs attention"
    parameter_name = "failing"
    choice = "Failing (error or disconnected)"

    def matching(self, queryset):
        return queryset.filter(status__in=FAILING_STATUSES)


class RefreshFailingFilter(OneChoiceFilter):
    title = "token refresh"
    parameter_name = "refresh_failing"
    choice = "Failing in the last 24 h"

    def matching(self, queryset):
        # refresh_failed_at is cleared by the next successful refresh, so these are still failing.
        return queryset.filter(refresh_failed_at__gte=timezone.now() - RECENT)


class CategoryFilter(admin.SimpleListFilter):
    title = "category"
    parameter_name = "category"

    def lookups(self, request, model_admin):
        rows = Provider.objects.filter(connections__isnull=False).values_list("categories", flat=True).distinct()
        return sorted({(c, category_label(c)) for categories in rows for c in categories}, key=lambda pair: pair[1])

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(provider__category_index__contains=f",{value},") if value else queryset


class PendingFilter(admin.SimpleListFilter):
    title = "customer action"
    parameter_name = "is_authentication_pending__exact"

    def lookups(self, request, model_admin):
        return [("1", "Waiting for the customer to connect"), ("0", "Authenticated")]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(is_authentication_pending=value == "1") if value in ("0", "1") else queryset


def provider_cell(provider: Provider):
    return format_html(
        '<span class="pb-provider"><img class="pb-logo" src="{}" alt="" loading="lazy">{}</span>',
        provider.logo_url,
        provider.display_name,
    )


def customer_cell(customer: Customer) -> str:
    return format_html('{} <span class="pb-muted">({})</span>', customer.name or "—", customer.external_id)


def field_as(field: str, label: str, *, boolean: bool = False):
    """A read-only field under a label a support person reads ("Waiting for the customer", not
    "Is authentication pending"); times are shown short."""

    @admin.display(description=label, boolean=boolean or None)
    def display(self, obj):
        value = getattr(obj, field)
        if boolean:
            return value
        return short_time(value) if hasattr(value, "tzinfo") else (value if value not in (None, "") else "—")

    return display


def short_time(value) -> str:
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M}" if value else "—"


def connection_title(connection: Connection) -> str:
    customer = connection.customer
    who = f"{customer.name} ({customer.external_id})" if customer.name else customer.external_id
    return f"{connection.provider.display_name} · {who} · {connection.get_status_display()}"


def credentials_summary(connection: Connection) -> str:
    """ "set · expires at · scopes", read from columns only: the vault is never decrypted for the page."""
    if not connection.has_credentials:
        return "— not set"
    parts = ["set"]
    if connection.credentials_expires_at:
        parts.append(f"expires {timezone.localtime(connection.credentials_expires_at):%Y-%m-%d %H:%M %Z}")
    else:
        parts.append("does not expire")
    parts.append(f"scopes: {', '.join(connection.scopes_granted)}" if connection.scopes_granted else "no scopes")
    return " · ".join(parts)


CONNECTION_ACTIONS = {
    "check_health": "Check health now",
    "force_refresh": "Refresh the token now",
    "copy_reconnect_link": "Copy reconnect link",
    "enable_sync": "Enable sync",
    "disable_sync": "Disable sync",
    "disconnect": "Disconnect (revoke at provider, wipe credentials)",
}


@admin.register(Connection)
class ConnectionAdmin(ServiceFormAdmin, ServiceDeleteAdmin):
    change_form_template = "admin/connections/connection/change_form.html"
    list_display = [
        "provider_display",
        "customer_display",
        "application",
        "status_display",
        "status_since_display",
        "health_display",
        "last_refresh_display",
        "token_expiry_display",
        "missing_settings_display",
    ]
    list_display_links = ["provider_display", "customer_display"]
    list_filter = [
        FailingFilter,
        "status",
        PendingFilter,
        RefreshFailingFilter,
        ("application", admin.RelatedOnlyFieldListFilter),
        ("provider", admin.RelatedOnlyFieldListFilter),
        CategoryFilter,
    ]
    search_fields = ["=id", "customer__external_id", "display_name", "customer__name"]
    search_help_text = "Connection id (exact), customer external id, customer name or display name."
    list_select_related = ["provider", "customer", "application"]
    list_per_page = 50
    inlines = [ConnectionModelInline, SyncRunInline]
    actions = list(CONNECTION_ACTIONS)
    readonly_fields = [
        "id",
        "application",
        "customer_link",
        "provider_display",
        "connector_config",
        "status_display",
        "status_since_display",
        "status_message",
        "waiting_display",
        "is_configured_display",
        "missing_settings_display",
        "reconnect_link",
        "credentials_display",
        "last_refresh_display",
        "refresh_failed_display",
        "refresh_failures_display",
        "health_code_display",
        "health_message",
        "resolution_display",
        "must_reconnect_display",
        "health_checked_display",
        "next_sync_display",
        "timeline",
        "created_at",
        "modified_at",
    ]
    fieldsets = [
        (
            None,
            {"fields": ["id", "application", "customer_link", "provider_display", "connector_config", "display_name"]},
        ),
        (
            "State",
            {
                "fields": [
                    "status_display",
                    "status_since_display",
                    "status_message",
                    "waiting_display",
                    "is_configured_display",
                    "missing_settings_display",
                    "reconnect_link",
                    "is_sync_disabled",
                ]
            },
        ),
        (
            "Settings and metadata",
            {
                "fields": ["settings", "metadata"],
                "description": "Settings are checked against the provider's catalog spec when you save.",
            },
        ),
        (
            "Credentials",
            {
                "fields": [
                    "credentials_display",
                    "last_refresh_display",
                    "refresh_failed_display",
                    "refresh_failures_display",
                ]
            },
        ),
        (
            "Health",
            {
                "fields": [
                    "health_code_display",
                    "health_message",
                    "resolution_display",
                    "must_reconnect_display",
                    "health_checked_display",
                    "next_sync_display",
                ]
            },
        ),
        ("Timeline", {"fields": ["timeline"], "classes": ["pb-timeline-set"]}),
        ("Timestamps", {"fields": ["created_at", "modified_at"]}),
    ]

    @admin.display(description="Provider", ordering="provider__display_name")
    def provider_display(self, obj):
        return provider_cell(obj.provider)

    @admin.display(description="Customer", ordering="customer__external_id")
    def customer_display(self, obj):
        return customer_cell(obj.customer)

    @admin.display(description="Customer")
    def customer_link(self, obj):
        url = reverse("admin:tenants_customer_change", args=[obj.customer_id])
        return format_html('<a href="{}">{}</a>', url, customer_cell(obj.customer))

    @admin.display(description="Status", ordering="status")
    def status_display(self, obj):
        return status_badge(obj.status, obj.get_status_display())

    @admin.display(description="Since", ordering="status_changed_at")
    def status_since_display(self, obj):
        return naturaltime(obj.status_changed_at)

    @admin.display(description="Health")
    def health_display(self, obj):
        return obj.health_message or obj.status_message or "—"

    @admin.display(description="Last refresh", ordering="last_refreshed_at")
    def last_refresh_display(self, obj):
        return short_time(obj.last_refreshed_at)

    waiting_display = field_as("is_authentication_pending", "Waiting for the customer", boolean=True)
    must_reconnect_display = field_as("health_authentication_required", "Customer must reconnect", boolean=True)
    health_code_display = field_as("health_status_code", "Health code")
    resolution_display = field_as("health_suggested_resolution", "Suggested resolution")
    health_checked_display = field_as("health_checked_at", "Last health check")
    next_sync_display = field_as("next_sync_at", "Next sync")
    refresh_failed_display = field_as("refresh_failed_at", "Last refresh failure")
    refresh_failures_display = field_as("refresh_failure_count", "Refresh failures in a row")

    @admin.display(description="Token expires", ordering="credentials_expires_at")
    def token_expiry_display(self, obj):
        return short_time(obj.credentials_expires_at)

    @admin.display(description="Configured", boolean=True)
    def is_configured_display(self, obj):
        return obj.is_configured

    @admin.display(description="Missing settings")
    def missing_settings_display(self, obj):
        return ", ".join(obj.missing_settings) or "—"

    @admin.display(description="Credentials")
    def credentials_display(self, obj):
        return credentials_summary(obj)

    @admin.display(description="Reconnect link")
    def reconnect_link(self, obj):
        url = authorization_url(obj)
        if url is None:
            return "— (authenticated; disconnect first to issue one)"
        return format_html(
            '<span class="pb-copy"><input type="text" readonly value="{}" aria-label="Reconnect link" '
            'onfocus="this.select()"><span class="pb-muted">Select and copy; send it to the customer.</span></span>',
            url,
        )

    @admin.display(description="Timeline")
    def timeline(self, obj):
        entries = connection_timeline(connection=obj)
        if not entries:
            return "— nothing yet"
        items = format_html_join(
            "",
            '<li class="pb-tone-{}"><time datetime="{}">{}</time><span class="pb-kind">{}</span>'
            '<span><strong>{}</strong> {} <span class="pb-muted">{}</span></span></li>',
            (
                (
                    entry.tone,
                    entry.at.isoformat(),
                    f"{timezone.localtime(entry.at):%Y-%m-%d %H:%M:%S}",
                    entry.kind,
                    entry.title,
                    entry.detail,
                    " · ".join(filter(None, [entry.actor, entry.extra.get("ip", "")])),
                )
                for entry in entries
            ),
        )
        return format_html('<ul class="pb-timeline">{}</ul>', items)

    def get_object(self, request, object_id, from_field=None):
        queryset = self.get_queryset(request).select_related(
            "provider", "customer", "application", "connector_config__provider", "connector_config__application"
        )
        model = queryset.model
        field = model._meta.pk if from_field is None else model._meta.get_field(from_field)
        try:
            return queryset.get(**{field.name: field.to_python(object_id)})
        except (model.DoesNotExist, ValidationError, ValueError):
            return None

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ConnectionAddForm.Meta.fields})]
        return self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def get_inlines(self, request, obj):
        return [] if obj is None else self.inlines

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = ConnectionChangeForm if obj is not None else ConnectionAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        connection = self.get_object(request, unquote(object_id))
        context = {**(extra_context or {})}
        if connection is not None:
            context["title"] = connection_title(connection)
            context["subtitle"] = None
            context["connection_actions"] = CONNECTION_ACTIONS if self.has_operate_permission(request) else {}
        return super().change_view(request, object_id, form_url, context)

    def delete_service(self, request, obj):
        connection_delete(connection=obj, actor=staff_actor(request))

    # --- actions: each calls a service and leaves an audit row (who, what, when, IP) ------------------------

    def has_operate_permission(self, request) -> bool:
        return request.user.has_perm("connections.change_connection")

    def get_urls(self):
        return [
            path(
                "<path:object_id>/run/<slug:action>/",
                self.admin_site.admin_view(self.run_action_view),
                name="connections_connection_run",
            ),
            *super().get_urls(),
        ]

    def run_action_view(self, request, object_id, action):
        """One action on one connection, from the buttons on its page (POST only)."""
        if request.method != "POST" or action not in CONNECTION_ACTIONS:
            raise PermissionDenied
        if not self.has_operate_permission(request):
            raise PermissionDenied
        queryset = self.get_queryset(request).filter(pk=unquote(object_id))
        getattr(self, action)(request, queryset)
        return HttpResponseRedirect(reverse("admin:connections_connection_change", args=[object_id]))

    def _each(self, request, queryset, service, done_message: str):
        done = 0
        for connection in queryset.select_related("provider", "customer", "application", "connector_config"):
            try:
                service(connection=connection, actor=staff_actor(request))
                done += 1
            except PatchbayError as exc:
                self.message_user(request, f"{connection_title(connection)}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, done_message.format(done=done), messages.SUCCESS)

    @admin.action(description=CONNECTION_ACTIONS["check_health"], permissions=["operate"])
    def check_health(self, request, queryset):
        self._each(request, queryset, connection_check_health_by_staff, "Checked the health of {done} connection(s).")

    @admin.action(description=CONNECTION_ACTIONS["force_refresh"], permissions=["operate"])
    def force_refresh(self, request, queryset):
        self._each(request, queryset, connection_refresh_by_staff, "Refreshed {done} connection(s).")

    @admin.action(description=CONNECTION_ACTIONS["disconnect"], permissions=["operate"])
    def disconnect(self, request, queryset):
        self._each(request, queryset, connection_disconnect, "Disconnected {done} connection(s).")

    @admin.action(description=CONNECTION_ACTIONS["enable_sync"], permissions=["operate"])
    def enable_sync(self, request, queryset):
        def enable(*, connection, actor):
            return connection_update(connection=connection, is_sync_disabled=False, actor=actor)

        self._each(request, queryset, enable, "Enabled sync on {done} connection(s).")

    @admin.action(description=CONNECTION_ACTIONS["disable_sync"], permissions=["operate"])
    def disable_sync(self, request, queryset):
        def disable(*, connection, actor):
            return connection_update(connection=connection, is_sync_disabled=True, actor=actor)

        self._each(request, queryset, disable, "Disabled sync on {done} connection(s).")

    @admin.action(description=CONNECTION_ACTIONS["copy_reconnect_link"], permissions=["operate"])
    def copy_reconnect_link(self, request, queryset):
        for connection in queryset.select_related("provider", "customer"):
            try:
                url = connection_reconnect_link_by_staff(connection=connection, actor=staff_actor(request))
            except PatchbayError as exc:
                self.message_user(request, f"{connection_title(connection)}: {exc.message}", messages.ERROR)
                continue
            self.message_user(request, f"Reconnect link for {connection_title(connection)}: {url}", messages.INFO)


CONNECTION_MODEL_FIELDS = ("id", "connection", "name", "display_name", "is_read_enabled", "is_write_enabled",
                           "is_read_supported", "is_write_supported", "is_sync_supported", "is_custom_object",
                           "is_file_upload_enabled", "is_webhooks_setup", "next_sync_at", "last_sync", "created_at",
                           "modified_at")  # fmt: skip


@admin.register(ConnectionModel)
class ConnectionModelAdmin(ServiceFormAdmin):
    """Synced models come from the provider's catalog when a connection is made; staff turn their reads and
    writes on or off (connection_model_update, audited on the connection), nothing else."""

    form = ConnectionModelForm
    list_display = ["display_name", "name", "connection", "is_read_enabled", "is_write_enabled", "next_sync_at"]
    list_filter = ["is_read_enabled", "is_write_enabled", "is_custom_object"]
    search_fields = ["id", "name", "display_name", "connection__id"]
    list_select_related = ["connection__provider", "connection__customer"]
    fields = CONNECTION_MODEL_FIELDS
    readonly_fields = [name for name in CONNECTION_MODEL_FIELDS if name not in ConnectionModelForm.Meta.fields]

    def has_add_permission(self, request):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("connection__provider", "connection__customer", "last_sync")


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "model", "connection", "status", "attempt", "is_initial_sync", "started_at", "completed_at"]
    list_filter = ["status", "is_initial_sync", "is_one_off"]
    search_fields = ["=id", "model__name", "=connection__id", "entity_id"]
    search_help_text = "Run id (exact), model name, connection id (exact) or entity id."
    list_select_related = ["model", "connection__provider", "connection__customer"]


class FailedRecentlyFilter(OneChoiceFilter):
    title = "needs attention"
    parameter_name = "failed_recently"
    choice = "Failed in the last 24 h"

    def matching(self, queryset):
        return queryset.filter(finished_at__gte=timezone.now() - RECENT).exclude(outcome=RefreshEvent.Outcome.REFRESHED)


REFRESH_EVENT_FIELDS = ("id", "connection_display", "application", "outcome_display", "trigger", "is_resend",
                        "started_at", "finished_at", "duration_display", "error_code", "message")  # fmt: skip


@admin.register(RefreshEvent)
class RefreshEventAdmin(ReadOnlyAdmin):
    """Every token request a refresh sent and how it ended (kept 30 days). Written by the refresh only."""

    list_display = ["finished_display", "connection_display", "application", "outcome_display", "trigger",
                    "duration_display", "is_resend", "error_code", "message"]  # fmt: skip
    list_filter = [
        FailedRecentlyFilter,
        "outcome",
        "trigger",
        "is_resend",
        ("application", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["=connection__id", "connection__customer__external_id", "error_code"]
    search_help_text = "Connection id (exact), customer external id or error code."
    list_select_related = ["connection__provider", "connection__customer", "application"]
    date_hierarchy = "finished_at"
    fields = readonly_fields = REFRESH_EVENT_FIELDS

    @admin.display(description="Finished", ordering="finished_at")
    def finished_display(self, obj):
        return short_time(obj.finished_at)

    @admin.display(description="Connection")
    def connection_display(self, obj):
        url = reverse("admin:connections_connection_change", args=[obj.connection_id])
        return format_html(
            '<a href="{}">{} · {}</a>',
            url,
            obj.connection.provider.display_name,
            customer_cell(obj.connection.customer),
        )

    @admin.display(description="Outcome", ordering="outcome")
    def outcome_display(self, obj):
        tone = "healthy" if obj.outcome == RefreshEvent.Outcome.REFRESHED else "error"
        return status_badge(tone, obj.get_outcome_display())

    @admin.display(description="Duration")
    def duration_display(self, obj):
        return f"{obj.duration_ms} ms"

    def get_queryset(self, request):
        return (
            super().get_queryset(request).select_related("connection__provider", "connection__customer", "application")
        )
