import base64
import hashlib
import secrets
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.audit.services import audit_record
from apps.core.errors import ValidationFailed, full_clean
from apps.tenants.models import ApiKey, Application, Customer

API_KEY_PREFIX = "pb_live_"
WEBHOOK_SECRET_OVERLAP = timedelta(hours=24)


def hash_secret(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def normalize_origin(origin: str) -> str:
    """Return scheme://host[:port] or raise ValidationFailed; paths, queries and wildcards are refused."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname or "*" in origin:
        raise ValidationFailed.from_messages(f"{origin!r} is not an origin like https://app.example.com")
    if parts.path not in {"", "/"} or parts.query or parts.fragment or parts.username:
        raise ValidationFailed.from_messages(f"{origin!r} must be an origin only (no path, query or credentials)")
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
    application.webhook_secret = {"secret": webhook_secret_new()}
    full_clean(application)
    application.save()
    audit_record(action="application.created", target=application, application=application)
    return application


def webhook_secret_new() -> str:
    """A Standard Webhooks signing secret: `whsec_` + standard base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@transaction.atomic
def application_webhook_secret_rotate(
    *, application: Application, overlap: timedelta = WEBHOOK_SECRET_OVERLAP, actor: str = "system"
) -> str:
    """Give the application a new signing secret and return it (shown once).

    The old secret keeps signing deliveries beside the new one for `overlap`, so receivers can switch
    without dropping events: the `webhook-signature` header carries one signature per valid secret.
    """
    locked = Application.objects.select_for_update().get(pk=application.pk)
    stored = locked.webhook_secret or {}
    now = timezone.now()
    previous = [p for p in stored.get("previous", []) if datetime.fromisoformat(p["valid_until"]) > now]
    if stored.get("secret"):
        previous.insert(0, {"secret": stored["secret"], "valid_until": (now + overlap).isoformat()})
    secret = webhook_secret_new()
    locked.webhook_secret = {"secret": secret, "previous": previous}
    locked.save(update_fields=["webhook_secret", "modified_at"])
    application.webhook_secret = locked.webhook_secret
    audit_record(
        action="application.webhook_secret_rotated",
        target=locked,
        actor=actor,
        data={"overlap_seconds": int(overlap.total_seconds())},
    )
    return secret


@transaction.atomic
def application_update(
    *,
    application: Application,
    allowed_origins: list[str] | None = None,
    webhook_url: str | None = None,
    actor: str = "system",
) -> Application:
    """Change the origins that may embed the widget and the webhook URL; None leaves a field as it is."""
    changed = []
    if allowed_origins is not None:
        application.allowed_origins = list(dict.fromkeys(normalize_origin(o) for o in allowed_origins))
        changed.append("allowed_origins")
    if webhook_url is not None:
        application.webhook_url = webhook_url.strip()
        changed.append("webhook_url")
    if not changed:
        return application
    full_clean(application, exclude=["webhook_secret"])
    application.save(update_fields=[*changed, "modified_at"])
    audit_record(action="application.updated", target=application, actor=actor, data={"fields": changed})
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
    full_clean(customer)
    customer.save()
    return customer


@transaction.atomic
def customer_get_or_create(*, application: Application, external_id: str, name: str = "") -> Customer:
    customer, _ = Customer.objects.get_or_create(
        application=application, external_id=external_id, defaults={"name": name}
    )
    return customer
