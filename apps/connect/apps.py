from django.apps import AppConfig


class ConnectConfig(AppConfig):
    name = "apps.connect"
    label = "connect"
    default_auto_field = "django.db.models.BigAutoField"
