from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.html import format_html

from apps.connect.links import authorization_url
from apps.connections.exceptions import ConnectError, SettingsInvalid
from apps.connections.models import Connection, ConnectionModel, SyncRun
from apps.console.admin.common import ReadOnlyAdmin, ServiceDeleteAdmin, staff_actor, vault_display


class _ServiceForm(forms.ModelForm):
    """A form whose save is a service call; the call runs in clean() so its domain errors show on the form.

    The admin wraps the whole request in one transaction, so a later failure still rolls the call back.
    """

    request = None
    result: Connection | None = None

    def _call_service(self, call) -> None:
        try:
            with transaction.atomic():
                self.result = call()
        except SettingsInvalid as exc:
            for name, message in exc.errors.items():
                self.add_error(None, f"{name}: {message}")
        except ConnectError as exc:
            self.add_error(None, exc.user_message)
        except ValidationError as exc:
            self.add_error(None, exc)


class ConnectionAddForm(_ServiceForm):
    class Meta:
        model = Connection
        fields = ["application", "customer", "provider", "display_name", "settings", "metadata"]

    def clean(self):
        data = super().clean()
        application, customer = data.get("application"), data.get("customer")
        if application and customer and customer.application_id != application.pk:
            raise ValidationError({"customer": "This customer belongs to another application."})
        if self.errors:
            return data
        from apps.connections.services import connection_create

        self._call_service(
            lambda: connection_create(
                application=application,
                customer=customer,
                provider=data["provider"],
                display_name=data.get("display_name") or "",
                settings=data.get("settings") or None,
                metadata=data.get("metadata") or None,
                actor=staff_actor(self.request),
            )
        )
        return data


class ConnectionChangeForm(_ServiceForm):
    class Meta:
        model = Connection
        fields = ["display_name", "is_sync_disabled", "settings", "metadata"]

    def clean(self):
        data = super().clean()
        if self.errors or not self.has_changed():
            return data
        from apps.connections.services import connection_update

        original = Connection.objects.get(pk=self.instance.pk)
        metadata = data.get("metadata") or {}
        # connection_update shallow-merges metadata; a key removed in the form is deleted with None.
        metadata_patch = {**dict.fromkeys(original.metadata.keys() - metadata.keys()), **metadata}
        self._call_service(
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


class ConnectionModelInline(admin.TabularInline):
    model = ConnectionModel
    fields = ["name", "display_name", "is_read_enabled", "is_write_enabled", "next_sync_at", "last_sync"]
    readonly_fields = ["last_sync"]
    extra = 0
    show_change_link = True


@admin.register(Connection)
class ConnectionAdmin(ServiceDeleteAdmin):
    list_display = [
        "id",
        "provider",
        "customer",
        "application",
        "status",
        "is_authentication_pending",
        "credentials_status",
        "created_at",
    ]
    list_filter = ["status", "is_authentication_pending", "health_authentication_required", "provider", "application"]
    search_fields = ["id", "display_name", "customer__external_id", "customer__name", "provider__name"]
    list_select_related = ["provider", "customer", "application"]
    inlines = [ConnectionModelInline]
    actions = ["disconnect", "refresh_credentials"]
    credentials_status = vault_display("credentials", "Credentials")
    readonly_fields = [
        "id",
        "application",
        "customer",
        "provider",
        "connector_config",
        "status",
        "status_message",
        "is_authentication_pending",
        "is_running_setup",
        "is_configured_display",
        "missing_settings_display",
        "authorization_link",
        "credentials_status",
        "credentials_expires_at",
        "scopes_granted",
        "last_refreshed_at",
        "refresh_failure_count",
        "health_status_code",
        "health_message",
        "health_suggested_resolution",
        "health_authentication_required",
        "health_checked_at",
        "next_sync_at",
        "disabled",
        "created_at",
        "modified_at",
    ]
    fieldsets = [
        (None, {"fields": ["id", "application", "customer", "provider", "connector_config", "display_name"]}),
        (
            "State",
            {
                "fields": [
                    "status",
                    "status_message",
                    "is_authentication_pending",
                    "is_running_setup",
                    "is_configured_display",
                    "missing_settings_display",
                    "authorization_link",
                    "is_sync_disabled",
                    "disabled",
                ]
            },
        ),
        ("Settings and metadata", {"fields": ["settings", "metadata"]}),
        (
            "Credentials",
            {
                "fields": [
                    "credentials_status",
                    "credentials_expires_at",
                    "scopes_granted",
                    "last_refreshed_at",
                    "refresh_failure_count",
                ]
            },
        ),
        (
            "Health",
            {
                "fields": [
                    "health_status_code",
                    "health_message",
                    "health_suggested_resolution",
                    "health_authentication_required",
                    "health_checked_at",
                    "next_sync_at",
                ]
            },
        ),
        ("Timestamps", {"fields": ["created_at", "modified_at"]}),
    ]

    @admin.display(description="Configured", boolean=True)
    def is_configured_display(self, obj):
        return obj.is_configured

    @admin.display(description="Missing settings")
    def missing_settings_display(self, obj):
        return ", ".join(obj.missing_settings) or "—"

    @admin.display(description="Authorization URL")
    def authorization_link(self, obj):
        url = authorization_url(obj)
        return format_html('<a href="{0}" rel="noreferrer">{0}</a>', url) if url else "— (authenticated)"

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
        form = super().get_form(request, obj, change=change, **kwargs)
        form.request = request
        return form

    def delete_service(self, request, obj):
        from apps.connections.services import connection_delete

        connection_delete(connection=obj, actor=staff_actor(request))

    def save_model(self, request, obj, form, change):
        """The service already wrote the row in the form's clean(); point the admin at it."""
        if form.result is not None:
            obj.pk = form.result.pk
            obj._state.adding = False

    @admin.action(description="Disconnect (revoke at provider, wipe credentials)")
    def disconnect(self, request, queryset):
        from apps.connections.services import connection_disconnect

        done = 0
        for connection in queryset.select_related("provider", "connector_config", "application"):
            try:
                connection_disconnect(connection=connection, actor=staff_actor(request))
                done += 1
            except ConnectError as exc:
                self.message_user(request, f"{connection.pk}: {exc.user_message}", messages.ERROR)
        self.message_user(request, f"Disconnected {done} connection(s).", messages.SUCCESS)

    @admin.action(description="Refresh credentials now")
    def refresh_credentials(self, request, queryset):
        from apps.connections.services import connection_refresh_credentials

        done = 0
        for connection_id in queryset.values_list("pk", flat=True):
            try:
                connection_refresh_credentials(connection_id=connection_id, force=True)
                done += 1
            except ConnectError as exc:
                self.message_user(request, f"{connection_id}: {exc.user_message}", messages.ERROR)
        self.message_user(request, f"Refreshed {done} connection(s).", messages.SUCCESS)


@admin.register(ConnectionModel)
class ConnectionModelAdmin(admin.ModelAdmin):
    list_display = ["display_name", "name", "connection", "is_read_enabled", "is_write_enabled", "next_sync_at"]
    list_filter = ["is_read_enabled", "is_write_enabled", "is_custom_object"]
    search_fields = ["id", "name", "display_name", "connection__id"]
    list_select_related = ["connection", "connection__provider"]
    readonly_fields = ["id", "connection", "last_sync", "created_at", "modified_at"]
    raw_id_fields = ["connection"]

    def get_readonly_fields(self, request, obj=None):
        return ["id", "last_sync", "created_at", "modified_at"] if obj is None else self.readonly_fields


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "model", "status", "attempt", "is_initial_sync", "started_at", "completed_at"]
    list_filter = ["status", "is_initial_sync", "is_one_off"]
    search_fields = ["id", "model__name", "model__connection__id", "entity_id"]
    list_select_related = ["model", "model__connection"]
