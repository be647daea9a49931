"""API key authentication (`Authorization: Bearer <key>`) and the per-key fixed-window rate limit."""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone
from ninja.errors import Throttled
from ninja.security import HttpBearer

from apps.tenants.models import ApiKey
from apps.tenants.selectors import api_key_authenticate

logger = logging.getLogger(__name__)
LAST_USED_RESOLUTION = timedelta(minutes=1)
RATE_WINDOW_SECONDS = 60


def _touch_last_used(api_key: ApiKey) -> None:
    """Record use at most once a minute per key, so reads stay read-only on the hot path."""
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now


def _count_in_window(key: str) -> int:
    cache.add(key, 0, timeout=RATE_WINDOW_SECONDS + 5)
    try:
        return cache.incr(key)
    except ValueError:  # evicted between add and incr: start the window again
        cache.set(key, 1, timeout=RATE_WINDOW_SECONDS + 5)
        return 1


_cache_down_warned_at = 0.0


def _warn_cache_down(exc: Exception) -> None:
    """Once a minute per process, not once per request."""
    global _cache_down_warned_at
    if time.monotonic() - _cache_down_warned_at >= RATE_WINDOW_SECONDS:
        _cache_down_warned_at = time.monotonic()
        logger.warning("API rate limiting is off: the cache is unreachable (%s)", type(exc).__name__)


def enforce_rate_limit(api_key: ApiKey) -> None:
    """Fixed window in the shared Django cache: PATCHBAY_API_RATE_LIMIT_PER_MINUTE requests per key.

    Fails open: with the cache (Redis) down, requests are served unthrottled and a warning is logged,
    rather than every authenticated call failing.
    """
    limit = settings.PATCHBAY_API_RATE_LIMIT_PER_MINUTE
    if not limit or limit <= 0:
        return
    now = time.time()
    window = int(now // RATE_WINDOW_SECONDS)
    try:
        count = _count_in_window(f"patchbay:api-rate:{api_key.pk}:{window}")
    except Exception as exc:  # noqa: BLE001 - whatever the cache backend raises when it is unreachable
        _warn_cache_down(exc)
        return
    if count > limit:
        raise Throttled(wait=int((window + 1) * RATE_WINDOW_SECONDS - now) + 1)


class ApiKeyAuth(HttpBearer):
    """request.auth becomes the ApiKey (with .application loaded); unknown or revoked keys get a 401."""

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        api_key = api_key_authenticate(raw_key=token.strip())
        if api_key is None:
            return None
        enforce_rate_limit(api_key)
        _touch_last_used(api_key)
        return api_key


def actor_for(request: HttpRequest) -> str:
    return f"api_key:{request.auth.pk}"
