import hmac

from django.db.models import QuerySet

from apps.tenants.models import ApiKey, Application, Customer
from apps.tenants.services import hash_secret


def api_key_authenticate(*, raw_key: str) -> ApiKey | None:
    """Find the active key for a presented secret; None when unknown or revoked."""
    if not raw_key:
        return None
    digest = hash_secret(raw_key)
    api_key = ApiKey.objects.select_related("application").filter(key_hash=digest, revoked_at__isnull=True).first()
    if api_key is None or not hmac.compare_digest(api_key.key_hash, digest):
        return None
    return api_key


def customer_list(*, application: Application) -> QuerySet[Customer]:
    return Customer.objects.filter(application=application).order_by("-created_at", "-id")


def customer_get(*, application: Application, external_id: str) -> Customer | None:
    return Customer.objects.filter(application=application, external_id=external_id).first()
