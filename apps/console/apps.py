from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_migrate


class ConsoleConfig(AppConfig):
    default = True
    """The staff console: every ModelAdmin, the dashboard, the Support role."""

    name = "apps.console"
    label = "console"
    verbose_name = "Staff console"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.console.services import support_group_sync_after_migrate

        post_migrate.connect(support_group_sync_after_migrate, dispatch_uid="console.support_group_sync")


class ConsoleAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the console's site (sections, overview) as the default `admin.site`."""

    default = False
    default_site = "apps.console.site.ConsoleAdminSite"
