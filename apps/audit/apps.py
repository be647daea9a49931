from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The audit trail: who did what to which object, from where."""

    name = "apps.audit"
    label = "audit"
    default_auto_field = "django.db.models.BigAutoField"
