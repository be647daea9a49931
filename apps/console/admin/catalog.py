from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html_join

from apps.catalog.models import ConnectorConfig, Provider
from apps.catalog.schema import CatalogError
from apps.catalog.services import catalog_sync, connector_config_upsert
from apps.console.admin.common import category_label, staff_actor, vault_display


def _reload_catalog(request) -> None:
    try:
        result = catalog_sync()
    except CatalogError as exc:
        messages.error(request, f"The catalog files are invalid, nothing was changed: {exc}")
        return
    messages.success(
        request,
        f"Catalog reloaded: {len(result.created)} created, {len(result.updated)} updated, "
        f"{len(result.disabled)} disabled, {result.unchanged} unchanged.",
    )


PROVIDER_FIELDS = (
    "name",
    "display_name",
    "auth_type",
    "categories_display",
    "stage",
    "is_enabled",
    "source_file",
    "required_settings",
    "scope_list",
    "verifies_credentials",
    "definition",
    "created_at",
    "modified_at",
)


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    """The catalog lives in YAML files; the table mirrors them, so it is read-only here."""

    list_display = [
        "display_name",
        "name",
        "auth_type",
        "categories_display",
        "stage",
        "verifies_credentials",
        "is_enabled",
    ]
    list_filter = ["auth_type", "stage", "is_enabled"]
    search_fields = ["name", "display_name", "category_index"]
    fields = readonly_fields = PROVIDER_FIELDS
    actions = ["reload_catalog"]
    change_list_template = "admin/catalog/provider/change_list.html"

    @admin.display(description="Verifies credentials", boolean=True)
    def verifies_credentials(self, obj):
        return obj.verifies_credentials

    @admin.display(description="Categories")
    def categories_display(self, obj):
        return ", ".join(category_label(category) for category in obj.categories) or "—"

    @admin.display(description="Required settings")
    def required_settings(self, obj):
        return ", ".join(obj.required_setting_names) or "—"

    @admin.display(description="Scopes")
    def scope_list(self, obj):
        return format_html_join(", ", "{} ({})", ((s["scope"], s["kind"]) for s in obj.scopes)) or "—"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path("reload/", self.admin_site.admin_view(self.reload_view), name="catalog_provider_reload"),
            *super().get_urls(),
        ]

    def reload_view(self, request):
        if request.method == "POST" and request.user.has_perm("catalog.view_provider"):
            _reload_catalog(request)
        return HttpResponseRedirect(reverse("admin:catalog_provider_changelist"))

    @admin.action(description="Reload the catalog from its files", permissions=["view"])
    def reload_catalog(self, request, queryset):
        _reload_catalog(request)


class ConnectorConfigForm(forms.ModelForm):
    new_client_secret = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        label="New client secret",
        help_text="Write-only. Leave empty to keep the current secret.",
    )

    class Meta:
        model = ConnectorConfig
        fields = ["application", "provider", "is_enabled", "client_id", "scopes", "default_settings"]


@admin.register(ConnectorConfig)
class ConnectorConfigAdmin(admin.ModelAdmin):
    form = ConnectorConfigForm
    list_display = ["provider", "application", "is_enabled", "client_id", "client_secret_status", "created_at"]
    list_filter = ["is_enabled", "provider", "application"]
    search_fields = ["id", "client_id", "provider__name", "provider__display_name", "application__name"]
    list_select_related = ["provider", "application"]
    client_secret_status = vault_display("client_secret", "Client secret")
    autocomplete_fields = []

    def get_fields(self, request, obj=None):
        fields = [
            "application",
            "provider",
            "is_enabled",
            "client_id",
            "client_secret_status",
            "new_client_secret",
            "scopes",
            "default_settings",
        ]
        if obj is not None and not self.has_change_permission(request, obj):
            fields.remove("new_client_secret")  # view-only staff (Support) get no secret field at all
        return fields if obj is None else ["id", *fields, "created_at", "modified_at"]

    def get_readonly_fields(self, request, obj=None):
        base = ["client_secret_status"]
        return base if obj is None else ["id", "application", "provider", *base, "created_at", "modified_at"]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        config = connector_config_upsert(
            application=obj.application,
            provider=obj.provider,
            client_id=data.get("client_id", ""),
            client_secret=data.get("new_client_secret") or None,
            scopes=data.get("scopes") or [],
            default_settings=data.get("default_settings") or {},
            is_enabled=data.get("is_enabled", True),
            actor=staff_actor(request),
        )
        obj.pk = config.pk
        obj._state.adding = False
