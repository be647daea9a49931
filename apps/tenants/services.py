import base64
import hashlib
import secrets
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.audit.services import assign_changes, audit_record, update_audit_data
from apps.core.errors import Conflict, ValidationFailed, full_clean
from apps.tenants.models import ApiKey, Application, Customer

API_KEY_PREFIX = "pb_live_"
WEBHOOK_SECRET_OVERLAP = timedelta(hours=24)
# A webhook URL often carries the receiver's token in its path or query, a logo URL a signed query: their audit
# rows show scheme and host only. Allowed origins are scheme://host[:port] already (normalize_origin).
APPLICATION_URL_FIELDS = ("webhook_url", "logo_url")


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
    *,
    name: str,
    slug: str = "",
    allowed_origins: list[str] | None = None,
    webhook_url: str = "",
    brand_color: str = "",
    logo_url: str = "",
    actor: str = "system",
) -> Application:
    application = Application(
        name=name,
        slug=slug or slugify(name),
        allowed_origins=[normalize_origin(o) for o in allowed_origins or []],
        webhook_url=webhook_url,
        logo_url=logo_url,
    )
    if brand_color:
        application.brand_color = brand_color
    application.webhook_secret = {"secret": webhook_secret_new()}
    full_clean(application)
    application.save()
    audit_record(action="application.created", target=application, actor=actor, application=application)
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
    name: str | None = None,
    slug: str | None = None,
    allowed_origins: list[str] | None = None,
    webhook_url: str | None = None,
    brand_color: str | None = None,
    logo_url: str | None = None,
    actor: str = "system",
) -> Application:
    """Change an application's fields; None leaves a field as it is. One audit row names the fields that
    changed with their old and new values, URLs as scheme and host only (the webhook secret is not editable
    here); no change, no write."""
    locked = Application.objects.select_for_update().get(pk=application.pk)

    def stripped(value: str | None) -> str | None:
        return None if value is None else value.strip()

    origins = None if allowed_origins is None else list(dict.fromkeys(map(normalize_origin, allowed_origins)))
    changes = assign_changes(
        locked,
        {
            "name": stripped(name),
            "slug": stripped(slug),
            "allowed_origins": origins,
            "webhook_url": stripped(webhook_url),
            "brand_color": stripped(brand_color),
            "logo_url": stripped(logo_url),
        },
    )
    if not changes:
        return locked
    full_clean(locked, exclude=["webhook_secret"])
    locked.save(update_fields=[*changes, "modified_at"])  # post_save: api_keys_changed (remembered keys)
    audit_record(
        action="application.updated",
        target=locked,
        actor=actor,
        application=locked,
        data=update_audit_data(changes, url_fields=APPLICATION_URL_FIELDS),
    )
    return locked


@transaction.atomic
def api_key_create(*, application: Application, name: str = "Default", actor: str = "system") -> tuple[ApiKey, str]:
    """Create a key and return it with its plaintext, which is never stored and never shown again. The name is
    required and at most 100 characters, as for api_key_rename."""
    raw = API_KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey(application=application, name=name.strip(), prefix=raw[:12], key_hash=hash_secret(raw))
    full_clean(api_key, exclude=["application", "key_hash"])
    api_key.save(force_insert=True)
    audit_record(action="api_key.created", target=api_key, actor=actor)
    return api_key, raw


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor: str = "system") -> ApiKey:
    api_key.revoked_at = timezone.now()
    api_key.save(update_fields=["revoked_at", "modified_at"])
    audit_record(action="api_key.revoked", target=api_key, actor=actor)
    return api_key


@transaction.atomic
def api_key_rename(*, api_key: ApiKey, name: str, actor: str = "system") -> ApiKey:
    """The name is the only editable field of a key (its hash and prefix never change)."""
    locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    changes = assign_changes(locked, {"name": name.strip()})
    if not changes:
        return locked
    full_clean(locked, exclude=["application", "key_hash"])
    locked.save(update_fields=["name", "modified_at"])  # post_save: api_keys_changed (remembered keys)
    audit_record(action="api_key.renamed", target=locked, actor=actor, data=update_audit_data(changes))
    return locked


def customer_external_id_taken(external_id: str) -> Conflict:
    message = f"A customer with external_id {external_id!r} already exists."
    return Conflict(message, details={"fields": {"external_id": [message]}})


def _customer_save(customer: Customer, *, update_fields: list[str] | None = None) -> None:
    """Validate and save; a taken external_id (checked first, or lost to a concurrent write) is a Conflict."""
    try:
        full_clean(customer)
        with transaction.atomic():
            customer.save(update_fields=update_fields)
    except (Conflict, IntegrityError) as exc:
        raise customer_external_id_taken(customer.external_id) from exc


@transaction.atomic
def customer_create(
    *,
    application: Application,
    external_id: str,
    name: str = "",
    email: str = "",
    metadata: dict | None = None,
    actor: str = "system",
) -> Customer:
    """A new customer; its external_id is unique within the application."""
    customer = Customer(
        application=application, external_id=external_id, name=name, email=email, metadata=metadata or {}
    )
    _customer_save(customer)
    audit_record(action="customer.created", target=customer, actor=actor, data={"external_id": external_id})
    return customer


@transaction.atomic
def customer_update(
    *,
    customer: Customer,
    external_id: str | None = None,
    name: str | None = None,
    email: str | None = None,
    metadata: dict | None = None,
    actor: str = "system",
) -> Customer:
    """Change a customer's fields (metadata is replaced); None leaves a field as it is. The application a
    customer belongs to never changes: its connections and tokens are the application's."""
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    changes = assign_changes(locked, {"external_id": external_id, "name": name, "email": email, "metadata": metadata})
    if not changes:
        return locked
    _customer_save(locked, update_fields=[*changes, "modified_at"])
    audit_record(action="customer.updated", target=locked, actor=actor, data=update_audit_data(changes))
    return locked


@transaction.atomic
def customer_get_or_create(*, application: Application, external_id: str, name: str = "") -> Customer:
    customer, _ = Customer.objects.get_or_create(
        application=application, external_id=external_id, defaults={"name": name}
    )
    return customer
