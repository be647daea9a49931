from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from apps.api.services import application_delete, customer_delete
from apps.audit.services import audit_url
from apps.console.admin.common import (
    ServiceDeleteAdmin,
    ServiceForm,
    ServiceFormAdmin,
    staff_actor,
    vault_display,
)
from apps.core.errors import ValidationFailed
from apps.tenants.models import ApiKey, Application, Customer
from apps.tenants.selectors import customer_get
from apps.tenants.services import (
    api_key_create,
    api_key_rename,
    api_key_revoke,
    application_create,
    application_update,
    application_webhook_secret_rotate,
    customer_create,
    customer_external_id_taken,
    customer_update,
    normalize_origin,
)
from apps.webhooks.services import webhook_test_event_send


class ApplicationForm(ServiceForm):
    allowed_origins = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One origin a line, like https://app.example.com (no path).",
    )

    class Meta:
        model = Application
        fields = ["name", "slug", "allowed_origins", "webhook_url", "brand_color", "logo_url"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["allowed_origins"] = "\n".join(self.instance.allowed_origins or [])

    def clean_allowed_origins(self) -> list[str]:
        origins, errors = [], []
        for line in (self.cleaned_data.get("allowed_origins") or "").replace(",", "\n").splitlines():
            if not line.strip():
                continue
            try:
                origins.append(normalize_origin(line))
            except ValidationFailed as exc:
                errors.append(exc.message)
        if errors:
            raise ValidationError(errors)
        return list(dict.fromkeys(origins))

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if self.errors or not self.has_changed():
            return data
        fields = {name: data[name] for name in ApplicationForm.Meta.fields}
        if self.instance._state.adding:
            self.call_service(lambda: application_create(**fields, actor=staff_actor(self.request)))
        else:
            self.call_service(
                lambda: application_update(application=self.instance, **fields, actor=staff_actor(self.request))
            )
        return data


API_KEY_INLINE_FIELDS = ("name", "prefix", "created_at", "last_used_at", "revoked_at")


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    fields = readonly_fields = API_KEY_INLINE_FIELDS
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Application)
class ApplicationAdmin(ServiceFormAdmin, ServiceDeleteAdmin):
    form = ApplicationForm
    list_display = ["name", "slug", "id", "webhook_destination", "created_at"]
    search_fields = ["id", "name", "slug"]
    list_filter = ["created_at"]
    prepopulated_fields = {"slug": ["name"]}
    webhook_secret_status = vault_display("webhook_secret", "Webhook signing secret")
    readonly_fields = ["id", "webhook_secret_status", "created_at", "modified_at"]
    inlines = [ApiKeyInline]
    actions = ["send_test_webhook", "rotate_webhook_secret"]

    # A webhook URL often carries the receiver's token (userinfo, a Slack hook's path, `?token=`): lists and
    # messages show where events go; the full URL only on the application's own form, where it is edited.
    @admin.display(description="Webhook URL", ordering="webhook_url")
    def webhook_destination(self, obj):
        return audit_url(obj.webhook_url) or "—"

    def get_fields(self, request, obj=None):
        """Someone who may only view the application (Support) sees where its events go, not the URL."""
        fields = super().get_fields(request, obj)
        if obj is not None and not self.has_change_permission(request, obj):
            return ["webhook_destination" if field == "webhook_url" else field for field in fields]
        return fields

    def has_operate_permission(self, request) -> bool:
        return request.user.has_perm("webhooks.change_webhookdelivery")

    @admin.action(description="Send a test webhook event", permissions=["operate"])
    def send_test_webhook(self, request, queryset):
        for application in queryset:
            try:
                delivery = webhook_test_event_send(application=application, actor=staff_actor(request))
            except ValidationFailed as exc:
                self.message_user(request, f"{application}: {exc.message}", messages.ERROR)
                continue
            queued = f"{application}: test event {delivery.payload['id']} queued to {audit_url(delivery.url)}."
            self.message_user(request, queued, messages.SUCCESS)

    # Shows the new secret once, so only those who manage applications (not Support) may run it.
    @admin.action(
        description="Rotate webhook signing secret (the old one stays valid 24 hours)", permissions=["change"]
    )
    def rotate_webhook_secret(self, request, queryset):
        for application in queryset:
            secret = application_webhook_secret_rotate(application=application, actor=staff_actor(request))
            messages.warning(
                request,
                f"New webhook signing secret for {application}: {secret} — copy it now; it is not shown again. "
                "Deliveries carry signatures for both the old and the new secret for 24 hours.",
            )

    def delete_service(self, request, obj):
        application_delete(application=obj, actor=staff_actor(request))


class ApiKeyAddForm(ServiceForm):
    raw_key = ""

    class Meta:
        model = ApiKey
        fields = ["application", "name"]

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if not self.errors:
            self.call_service(self._create)
        return data

    def _create(self) -> ApiKey:
        api_key, self.raw_key = api_key_create(
            application=self.cleaned_data["application"],
            name=self.cleaned_data["name"],
            actor=staff_actor(self.request),
        )
        return api_key


class ApiKeyRenameForm(ServiceForm):
    class Meta:
        model = ApiKey
        fields = ["name"]

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if not self.errors and self.has_changed():
            self.call_service(
                lambda: api_key_rename(api_key=self.instance, name=data["name"], actor=staff_actor(self.request))
            )
        return data


@admin.register(ApiKey)
class ApiKeyAdmin(ServiceFormAdmin):
    form = ApiKeyRenameForm
    list_display = ["name", "prefix_display", "application", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "application"]
    search_fields = ["id", "name", "prefix", "application__name", "application__slug"]
    list_select_related = ["application"]
    readonly_fields = ["id", "application", "prefix_display", "created_at", "last_used_at", "revoked_at"]
    fields = ["id", "application", "name", "prefix_display", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke_keys"]

    @admin.display(description="Prefix")
    def prefix_display(self, obj):
        return f"{obj.prefix}…" if obj.prefix else ""

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
            kwargs["fields"] = ["application", "name"]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ["application", "name"] if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)  # created or renamed by the form's clean()
        if change:
            return
        obj.prefix = form.result.prefix  # the admin's "was added" message names the key by it
        messages.warning(
            request,
            f"New API key for {obj.application}: {form.raw_key} — copy it now; Patchbay stores only its hash "
            "and will never show it again.",
        )

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke_keys(self, request, queryset):
        revoked = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(api_key=api_key, actor=staff_actor(request))
            revoked += 1
        self.message_user(request, f"Revoked {revoked} API key(s).", messages.SUCCESS)


class CustomerForm(ServiceForm):
    class Meta:
        model = Customer
        fields = ["application", "external_id", "name", "email", "metadata"]

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if self.errors:
            self._check_external_id_free()  # the service, which would, is not called: say it beside the rest
            return data
        if not self.has_changed():
            return data
        fields = {
            "external_id": data["external_id"],
            "name": data.get("name") or "",
            "email": data.get("email") or "",
            "metadata": data.get("metadata") or {},
            "actor": staff_actor(self.request),
        }
        if self.instance._state.adding:
            self.call_service(lambda: customer_create(application=data["application"], **fields))
        else:
            self.call_service(lambda: customer_update(customer=self.instance, **fields))
        return data

    def _check_external_id_free(self) -> None:
        application = self.cleaned_data.get("application") if self.instance._state.adding else self.instance.application
        external_id = self.cleaned_data.get("external_id")
        if application is None or not external_id:
            return
        holder = customer_get(application=application, external_id=external_id)
        if holder is not None and holder.pk != self.instance.pk:
            self.add_error("external_id", customer_external_id_taken(external_id).message)


@admin.register(Customer)
class CustomerAdmin(ServiceFormAdmin, ServiceDeleteAdmin):
    form = CustomerForm
    list_display = ["external_id", "name", "email", "application", "created_at"]
    list_filter = ["application", "created_at"]
    search_fields = ["id", "external_id", "name", "email"]
    list_select_related = ["application"]
    readonly_fields = ["id", "created_at", "modified_at"]
    fields = ["id", "application", "external_id", "name", "email", "metadata", "created_at", "modified_at"]

    def get_readonly_fields(self, request, obj=None):
        # A customer's connections and tokens are its application's: it never moves to another one.
        return self.readonly_fields if obj is None else [*self.readonly_fields, "application"]

    def delete_service(self, request, obj):
        customer_delete(customer=obj, actor=staff_actor(request))
