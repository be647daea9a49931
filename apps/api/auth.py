"""Who is calling the API, and the per-credential fixed-window rate limit.

Two credentials, both sent as `Authorization: Bearer <secret>`:
- an application API key (`pb_live_…`): everything the application may do;
- a customer token (`pb_ct_…`, minted with POST /api/v1/customers/{id}/tokens): only the connection reads
  (native and compat) and connect-session creation, and only for its one customer. Every other
  operation answers 403 to it.
The Supaglue-compatible endpoint also takes the API key in `x-api-key`, as Supaglue's own API does.
Credentials are never logged: failures log nothing, and the caller is recorded by id only.
"""

import copy
import functools
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

import redis
from django.conf import settings
from django.core.cache import cache
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone
from ninja.errors import Throttled
from ninja.security import APIKeyHeader, HttpBearer

from apps.api.selectors import customer_token_authenticate
from apps.api.services import CUSTOMER_TOKEN_PREFIX
from apps.core.errors import Forbidden
from apps.tenants.key_generation import API_KEYS_GENERATION, api_keys_generation
from apps.tenants.models import ApiKey, Application, Customer
from apps.tenants.selectors import api_key_authenticate
from apps.tenants.services import hash_secret

logger = logging.getLogger(__name__)
LAST_USED_RESOLUTION = timedelta(minutes=1)
RATE_WINDOW_SECONDS = 60


def _touch_last_used(api_key: ApiKey) -> None:
    """Record use at most once a minute per key, so reads stay read-only on the hot path."""
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now


def _count_in_window(key: str, *, with_generation: bool) -> tuple[int, int | None]:
    """This request's number in its window and, when asked, the API keys' generation (key_generation.py).
    On Redis one round trip (INCR, EXPIRE NX and GET pipelined); Django's cache API would take three or
    four (its incr is EXISTS then INCRBY)."""
    client = _redis_client()
    if client is not None:
        pipeline = client.pipeline(transaction=False).incr(key).expire(key, RATE_WINDOW_SECONDS + 5, nx=True)
        if with_generation:
            pipeline.get(cache.make_and_validate_key(API_KEYS_GENERATION))
        count, _, *generation = pipeline.execute()
        # Django's Redis cache stores integers as their digits, so a raw GET reads what cache.get would.
        return count, int(generation[0]) if generation and generation[0] is not None else None
    try:
        count = cache.incr(key)
    except ValueError:  # no such window yet (or evicted); a concurrent first request may win the add
        count = 1 if cache.add(key, 1, timeout=RATE_WINDOW_SECONDS + 5) else cache.incr(key)
    return count, api_keys_generation() if with_generation else None


@functools.cache
def _redis_client():
    """A client of the Redis behind the default cache, when it is one."""
    config = settings.CACHES["default"]
    if config["BACKEND"] != "django.core.cache.backends.redis.RedisCache":
        return None
    location = config["LOCATION"]
    return redis.Redis.from_url(location[0] if isinstance(location, list) else location)


@receiver(setting_changed)
def _forget_redis_client(*, setting: str, **_kwargs: object) -> None:
    """A changed CACHES (tests swap it; a server never does) must not leave the limiter on the old Redis,
    where every request would see the cache as down and no key would be remembered."""
    if setting == "CACHES":
        _redis_client.cache_clear()


_cache_down_warned_at = 0.0


def _warn_cache_down(exc: Exception) -> None:
    """Once a minute per process, not once per request."""
    global _cache_down_warned_at
    if time.monotonic() - _cache_down_warned_at >= RATE_WINDOW_SECONDS:
        _cache_down_warned_at = time.monotonic()
        logger.warning("API rate limiting is off: the cache is unreachable (%s)", type(exc).__name__)


GENERATION_UNKNOWN = -1  # what enforce_rate_limit returns when it could not read the generation


def enforce_rate_limit(credential_id: str, *, read_generation: bool = False) -> int | None:
    """Fixed window in the shared Django cache: PATCHBAY_API_RATE_LIMIT_PER_MINUTE requests per key.
    With `read_generation`, returns the API keys' generation read in the same round trip.

    Fails open: with the cache (Redis) down, requests are served unthrottled and a warning is logged,
    rather than every authenticated call failing (the generation is then GENERATION_UNKNOWN).
    """
    limit = settings.PATCHBAY_API_RATE_LIMIT_PER_MINUTE
    if not limit or limit <= 0:
        return _generation_or_unknown() if read_generation else None
    now = time.time()
    window = int(now // RATE_WINDOW_SECONDS)
    try:
        count, generation = _count_in_window(
            f"patchbay:api-rate:{credential_id}:{window}", with_generation=read_generation
        )
    except Exception as exc:  # noqa: BLE001 - whatever the cache backend raises when it is unreachable
        _warn_cache_down(exc)
        return GENERATION_UNKNOWN
    if count > limit:
        raise Throttled(wait=int((window + 1) * RATE_WINDOW_SECONDS - now) + 1)
    return generation


def _generation_or_unknown() -> int | None:
    try:
        return api_keys_generation()
    except Exception as exc:  # noqa: BLE001 - whatever the cache backend raises when it is unreachable
        _warn_cache_down(exc)
        return GENERATION_UNKNOWN


@dataclass(frozen=True, slots=True)
class _RememberedKey:
    api_key: ApiKey  # with its application; never handed out itself, only copies
    generation: int | None
    until: float  # time.monotonic()


# Keys this process authenticated, by hash: a page read then costs no query for its key. Reused only
# while the API keys' generation is unchanged (tenants/key_generation.py) and for a minute at most.
_remembered_keys: dict[str, _RememberedKey] = {}
REMEMBER_KEYS_SECONDS = 60
_REMEMBERED_KEYS_MAX = 1024


def _remember(digest: str, api_key: ApiKey, generation: int | None) -> None:
    if generation == GENERATION_UNKNOWN:
        return
    if len(_remembered_keys) >= _REMEMBERED_KEYS_MAX:
        _remembered_keys.clear()
    _remembered_keys[digest] = _RememberedKey(api_key, generation, time.monotonic() + REMEMBER_KEYS_SECONDS)


def _copy_of(api_key: ApiKey) -> ApiKey:
    """A request's own copy: handlers may change request.auth.application (PATCH /application)."""
    copied = copy.copy(api_key)
    copied.application = copy.copy(api_key.application)
    return copied


def _api_key_caller(raw: str) -> "Caller | None":
    """The caller for an application API key: a remembered key when its generation still holds (checked
    in the rate limiter's round trip), else one query."""
    digest = hash_secret(raw)
    remembered = _remembered_keys.get(digest)
    if remembered is not None and remembered.until > time.monotonic():
        generation = enforce_rate_limit(remembered.api_key.pk, read_generation=True)
        if generation == remembered.generation and generation != GENERATION_UNKNOWN:
            api_key = _copy_of(remembered.api_key)
            _touch_last_used(api_key)
            remembered.api_key.last_used_at = api_key.last_used_at
            return Caller(application=api_key.application, actor=f"api_key:{api_key.pk}")
        _remembered_keys.pop(digest, None)
        counted = True
    else:
        generation, counted = _generation_or_unknown(), False
    found = api_key_authenticate(raw_key=raw)  # read after the generation, so a change meanwhile shows
    if found is None:
        return None
    api_key = found
    if not counted:
        enforce_rate_limit(api_key.pk)
    _touch_last_used(api_key)
    _remember(digest, _copy_of(api_key), generation)
    return Caller(application=api_key.application, actor=f"api_key:{api_key.pk}")


@dataclass(frozen=True)
class Caller:
    """request.auth on every API operation."""

    application: Application
    actor: str  # "api_key:<id>" or "customer_token:<id>": what audit rows record
    customer: Customer | None = None  # set for a customer token: the one customer it may see


CUSTOMER_TOKEN_FORBIDDEN = (
    "A customer token can only read its customer's connections and create connect sessions for it. "
    "Call this endpoint from your backend with an API key."
)


def _authenticate(raw: str, *, customer_token_allowed: bool) -> Caller | None:
    raw = raw.strip()
    if raw.startswith(CUSTOMER_TOKEN_PREFIX):
        token = customer_token_authenticate(raw_token=raw)
        if token is None:
            return None
        if not customer_token_allowed:
            raise Forbidden(CUSTOMER_TOKEN_FORBIDDEN)
        enforce_rate_limit(token.pk)
        return Caller(application=token.application, actor=f"customer_token:{token.pk}", customer=token.customer)
    return _api_key_caller(raw)


class ApiKeyAuth(HttpBearer):
    """An application API key. A valid customer token gets a 403 saying what it may do; anything else 401."""

    def authenticate(self, request: HttpRequest, token: str) -> Caller | None:
        return _authenticate(token, customer_token_allowed=False)


class ApiKeyOrCustomerTokenAuth(HttpBearer):
    """An API key, or a customer token: for the operations a customer's own frontend may call."""

    openapi_description = "An application API key, or a customer token (pb_ct_…) scoped to one customer."

    def authenticate(self, request: HttpRequest, token: str) -> Caller | None:
        return _authenticate(token, customer_token_allowed=True)


class SupaglueApiKeyHeader(APIKeyHeader):
    """Supaglue's own convention: the API key in an `x-api-key` header."""

    param_name = "x-api-key"

    def authenticate(self, request: HttpRequest, key: str | None) -> Caller | None:
        return _authenticate(key or "", customer_token_allowed=True)


CUSTOMER_SCOPED = [ApiKeyOrCustomerTokenAuth()]


class AuthenticatedRequest(HttpRequest):
    """The request an API operation receives: django-ninja has set `auth` to what authenticate returned."""

    auth: Caller


def actor_for(request: AuthenticatedRequest) -> str:
    return request.auth.actor
