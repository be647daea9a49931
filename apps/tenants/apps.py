from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class TenantsConfig(AppConfig):
    name = "apps.tenants"
    label = "tenants"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.tenants.key_generation import api_keys_changed
        from apps.tenants.models import ApiKey, Application

        for model in (ApiKey, Application):
            for signal in (post_save, post_delete):
                signal.connect(api_keys_changed, sender=model, dispatch_uid=f"api_keys_changed.{model.__name__}")
