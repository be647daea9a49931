"""The built-in sandbox OAuth2 provider: sandbox identities and the OAuth client each application uses."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password
from django.contrib.auth.models import User
from django.db import transaction
from django.utils.text import slugify
from oauth2_provider.models import get_application_model

from apps.audit.services import audit_record
from apps.catalog.models import ConnectorConfig
from apps.catalog.selectors import connector_config_get, provider_get
from apps.catalog.services import connector_config_upsert
from apps.sandbox.exceptions import SandboxNameTaken
from apps.tenants.models import Application

SANDBOX_PROVIDER = "patchbay-sandbox"
SANDBOX_USERNAME_PREFIX = "sandbox__"
API_KEY_PREFIX = "sk_sandbox_"


class SandboxUnavailable(Exception):
    """The sandbox provider is not in the catalog (catalog not loaded)."""


def sandbox_redirect_uri() -> str:
    return f"{settings.PATCHBAY_BASE_URL}/connect/callback/{SANDBOX_PROVIDER}"


def sandbox_client_id(*, application: Application) -> str:
    return f"sandbox-{application.pk}"


@transaction.atomic
def sandbox_connector_config_ensure(*, application: Application, actor: str = "system") -> ConnectorConfig:
    """Create or update the DOT client for this application and its patchbay-sandbox ConnectorConfig.

    Idempotent: the client secret is kept when the ConnectorConfig's secret still matches the DOT client
    (DOT stores only a hash, so the plaintext lives in the vault-encrypted ConnectorConfig).
    """
    provider = provider_get(name=SANDBOX_PROVIDER)
    if provider is None:
        raise SandboxUnavailable("The patchbay-sandbox provider is not in the catalog; run load_catalog.")
    DotApplication = get_application_model()
    client_id = sandbox_client_id(application=application)
    config = connector_config_get(application=application, provider=provider)
    dot_app = DotApplication.objects.select_for_update().filter(client_id=client_id).first()
    current_secret = config.secret_value if config is not None and config.client_id == client_id else ""
    secret_valid = bool(current_secret and dot_app and check_password(current_secret, dot_app.client_secret))
    new_secret = None if secret_valid else "sbx_" + secrets.token_urlsafe(32)
    values = {
        "name": f"{application.name} (Patchbay)"[:255],
        "client_type": DotApplication.CLIENT_CONFIDENTIAL,
        "authorization_grant_type": DotApplication.GRANT_AUTHORIZATION_CODE,
        "redirect_uris": sandbox_redirect_uri(),
        "algorithm": DotApplication.NO_ALGORITHM,
        "hash_client_secret": True,
        "skip_authorization": False,
    }
    if dot_app is None:
        dot_app = DotApplication(client_id=client_id, client_secret=new_secret, **values)
    else:
        for key, value in values.items():
            setattr(dot_app, key, value)
        if new_secret is not None:
            dot_app.client_secret = new_secret
    dot_app.full_clean(exclude=["user"])
    dot_app.save()
    config = connector_config_upsert(
        application=application,
        provider=provider,
        client_id=client_id,
        client_secret=new_secret,
        is_enabled=True,
        actor=actor,
    )
    audit_record(
        action="sandbox.client_ensured", target=config, actor=actor, data={"secret_rotated": new_secret is not None}
    )
    return config


@transaction.atomic
def sandbox_user_get_or_create(*, display_name: str) -> User:
    """The sandbox identity for a typed name: a Django user with no password that is never staff."""
    display_name = " ".join(display_name.split())[:100]
    slug = slugify(display_name)[:100] or "user"
    username = SANDBOX_USERNAME_PREFIX + slug
    User = get_user_model()
    user = User.objects.filter(username=username).select_related("sandbox_identity").first()
    if user is None:
        user = User(username=username, is_staff=False, is_superuser=False, first_name=display_name[:150])
        user.set_unusable_password()
        user.save()
        from apps.sandbox.models import SandboxUser

        SandboxUser.objects.create(user=user, display_name=display_name)
        return user
    if not hasattr(user, "sandbox_identity") or user.is_staff or user.is_superuser:
        # Never let the sandbox sign-in act as a real account that happens to share the name.
        raise SandboxNameTaken()
    return user


def sandbox_workspace_hint(*, user: User) -> str:
    return sandbox_workspaces(user=user)[0]["slug"]


SANDBOX_WORKSPACE_KINDS = ("demo", "sales", "support")


def sandbox_workspaces(*, user: User) -> list[dict[str, str]]:
    """The workspaces a sandbox account has: one per kind, named after the person (the first is the hint)."""
    base = (slugify(user.sandbox_identity.display_name) or "workspace")[:30]
    owner = user.sandbox_identity.display_name
    return [{"slug": f"{base}-{kind}", "name": f"{owner} — {kind.capitalize()}"} for kind in SANDBOX_WORKSPACE_KINDS]


def sandbox_api_key_is_valid(raw_key: str) -> bool:
    return raw_key.startswith(API_KEY_PREFIX) and len(raw_key) > len(API_KEY_PREFIX)
