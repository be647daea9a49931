from django.contrib import admin

from apps.sandbox.models import SandboxUser


@admin.register(SandboxUser)
class SandboxUserAdmin(admin.ModelAdmin):
    list_display = ["display_name", "user", "created_at"]
    search_fields = ["display_name"]
    readonly_fields = ["user", "display_name", "created_at"]
