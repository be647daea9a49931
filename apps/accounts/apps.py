from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from apps.accounts.mfa import MFA_SECRETS
        from apps.vault.services import register_embedded_secrets

        register_embedded_secrets(MFA_SECRETS)
