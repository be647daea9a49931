"""Pieces every console ModelAdmin shares: vault masking, the staff actor, one-choice list filters, read-only
and service-backed deletes."""

from django.contrib import admin
from django.contrib.admin.options import csrf_protect_m
from django.db.models import QuerySet
from django.utils.html import format_html

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
