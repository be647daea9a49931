"""Pieces every console ModelAdmin shares: vault masking, the staff actor, one-choice list filters, read-only
admins, service-backed saves and deletes."""

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.options import csrf_protect_m
from django.db import router, transaction
from django.db.models import QuerySet
from django.utils.html import format_html

from apps.connections.exceptions import SettingsInvalid
from apps.core.errors import PatchbayError

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


ACRONYMS = {"crm": "CRM", "hris": "HRIS", "ats": "ATS", "erp": "ERP", "ai": "AI", "sso": "SSO", "iam": "IAM"}


def category_label(category: str) -> str:
    """Catalog category slugs as words: "crm" → "CRM", "developer_tools" → "Developer tools"."""
    label = " ".join(ACRONYMS.get(word, word) for word in category.replace("-", "_").split("_"))
    return label[:1].upper() + label[1:]


def status_badge(value: str, label: str):
    return format_html('<span class="pb-badge pb-badge--{}">{}</span>', value, label)


def staff_actor(request) -> str:
    return f"staff:{request.user.get_username()}"


class OneChoiceFilter(admin.SimpleListFilter):
    """A list filter with one choice besides "All": `choice` keeps the rows `matching` returns."""

    choice = ""

    def lookups(self, request, model_admin):
        return [("1", self.choice)]

    def queryset(self, request, queryset):
        return self.matching(queryset) if self.value() == "1" else queryset

    def matching(self, queryset: QuerySet) -> QuerySet:
        raise NotImplementedError


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by services: staff may look, not add or edit."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ServiceDeleteAdmin(admin.ModelAdmin):
    """Deletes, single and bulk, go through `delete_service` (revoke at the provider, wipe, audit, webhook).

    Django runs its delete view inside one transaction; the services call providers and so must run with
    none open (they open their own short ones), hence the view below without the wrapping `atomic()`.
    """

    def delete_service(self, request, obj) -> None:
        raise NotImplementedError

    @csrf_protect_m
    def delete_view(self, request, object_id, extra_context=None):
        return self._delete_view(request, object_id, extra_context)  # type: ignore[attr-defined]  # private in Django, not in the stubs

    def delete_model(self, request, obj):
        self.delete_service(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_service(request, obj)


class ServiceForm(forms.ModelForm):
    """A form whose save is a service call; the call runs in clean() so its domain errors show on the form
    (per field when the error names form fields). `request`, for the staff actor, is set on the form class
    the admin makes for each request (ServiceFormAdmin.get_form, an inline's get_formset)."""

    request: Any = None
    result: Any = None
    service_called = False

    def call_service(self, call: Callable[[], Any]) -> None:
        self.service_called = True
        try:
            with transaction.atomic():
                self.result = call()
        except SettingsInvalid as exc:
            for name, message in exc.errors.items():
                self.add_error(None, f"{name}: {message}")
        except PatchbayError as exc:
            fields = exc.details.get("fields", {})
            if fields and set(fields) <= set(self.fields):
                for name, problems in fields.items():
                    self.add_error(name, problems)
            else:
                self.add_error(None, exc.message)

    # The service checks uniqueness and constraints itself (its refusal is already on the form), and the row
    # it wrote now exists: checking the form's instance against the table again would find that row.
    def validate_unique(self) -> None:
        if not self.service_called:
            super().validate_unique()

    def validate_constraints(self) -> None:
        if not self.service_called:
            super().validate_constraints()


class ServiceFormAdmin(admin.ModelAdmin):
    """Adds and edits whose forms (ServiceForm, and inline formsets that call services) write through the
    owning app's services in clean(). The service has written by the time the admin would save, so
    save_model only points the admin at the row; and when the page comes back with errors (the form or an
    inline refused), everything the request wrote is rolled back, so a refused save leaves nothing behind."""

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.request = request  # type: ignore[attr-defined]  # a ServiceForm subclass made for this request
        return form

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        with transaction.atomic(using=router.db_for_write(self.model)):
            response = super().changeform_view(request, object_id, form_url, extra_context)
            if request.method == "POST" and (getattr(response, "context_data", None) or {}).get("errors"):
                transaction.set_rollback(True, using=router.db_for_write(self.model))
        return response

    def save_model(self, request, obj, form, change):
        if form.result is not None:
            obj.pk = form.result.pk
            obj._state.adding = False
