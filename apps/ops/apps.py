from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Running Patchbay: the demo bootstrap, the all-in-one runner, the widget demo host, /healthz and the
    worker heartbeat it reads, the ping task."""

    name = "apps.ops"
    label = "ops"
    default_auto_field = "django.db.models.BigAutoField"
