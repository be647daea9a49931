import hashlib
import secrets
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.core.services import audit_record
from apps.tenants.models import ApiKey, Application, Customer

API_KEY_PREFIX = "pb_live_"


def hash_secret(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def normalize_origin(origin: str) -> str:
    """Return scheme://host[:port] or raise ValidationError; paths, queries and wildcards are refused."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname or "*" in origin:
        raise ValidationError(f"{origin!r} is not an origin like https://app.example.com")
    if parts.path not in {"", "/"} or parts.query or parts.fragment or parts.username:
        raise ValidationError(f"{origin!r} must be an origin only (no path, query or credentials)")
    return f"{parts.scheme}://{parts.netloc.lower()}"


@transaction.atomic
def application_create(
    *, name: str, slug: str = "", allowed_origins: list[str] | None = None, webhook_url: str = ""
) -> Application:
    application = Application(
        name=name,
        slug=slug or slugify(name),
        allowed_origins=[normalize_origin(o) for o in allowed_origins or []],
        webhook_url=webhook_url,
    )
    application.webhook_secret = {"secret": "whsec_" + secrets.token_urlsafe(32)}
    application.full_clean()
    application.save()
    audit_record(action="application.created", target=application, application=application)
    return application


@transaction.atomic
def api_key_create(*, application: Application, name: str = "Default", actor: str = "system") -> tuple[ApiKey, str]:
    """Create a key and return it with its plaintext, which is never stored and never shown again."""
    raw = API_KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(application=application, name=name, prefix=raw[:12], key_hash=hash_secret(raw))
    audit_record(action="api_key.created", target=api_key, actor=actor)
    return api_key, raw


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor: str = "system") -> ApiKey:
    api_key.revoked_at = timezone.now()
    api_key.save(update_fields=["revoked_at", "modified_at"])
    audit_record(action="api_key.revoked", target=api_key, actor=actor)
    return api_key


@transaction.atomic
def customer_create(
    *, application: Application, external_id: str, name: str = "", email: str = "", metadata: dict | None = None
) -> Customer:
    customer = Customer(
        application=application, external_id=external_id, name=name, email=email, metadata=metadata or {}
    )
    customer.full_clean()
    customer.save()
    return customer


@transaction.atomic
def customer_get_or_create(*, application: Application, external_id: str, name: str = "") -> Customer:
    customer, _ = Customer.objects.get_or_create(
        application=application, external_id=external_id, defaults={"name": name}
    )
    return customer
