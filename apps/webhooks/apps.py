from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "apps.webhooks"
    label = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The services queue deliveries by task name; registering the tasks here lets an eager (test)
        # Celery resolve that name in the web process too.
        from apps.webhooks import tasks  # noqa: F401
