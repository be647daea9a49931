import hmac

from django.utils import timezone

from apps.api.models import CustomerToken
from apps.tenants.models import Application
from apps.tenants.services import hash_secret


def customer_token_authenticate(*, raw_token: str) -> CustomerToken | None:
    """The live token for a presented secret; None when unknown, revoked or expired."""
    if not raw_token:
        return None
    digest = hash_secret(raw_token)
    token = (
        CustomerToken.objects.select_related("application", "customer")
        .filter(token_hash=digest, revoked_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    return token


def customer_token_get(*, application: Application, token_id: str) -> CustomerToken | None:
    return CustomerToken.objects.filter(application=application, pk=token_id).select_related("customer").first()
