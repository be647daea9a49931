"""A counter in the shared cache that changes whenever an API key or an application changes.

The API remembers authenticated keys per process for a minute (apps/api/auth.py) and reuses one only
while this counter is what it was when the key was read, so a revocation, a deletion or an edited
application is seen by every process on its next request. Saves and deletes of either model bump it
(signals, so the admin and the services are covered alike), once at once and once after commit: the
first stops reuse straight away, the second drops whatever a concurrent request read before the
commit. Bulk `update()`s send no signal: call api_keys_changed() after one.
"""

import logging

from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

API_KEYS_GENERATION = "patchbay:api-keys:generation"


def api_keys_generation() -> int | None:
    """The current counter (None before the first change, or after the cache lost it). Raises whatever
    the cache raises when it is unreachable: the caller then must not trust what it remembers."""
    return cache.get(API_KEYS_GENERATION)


def _bump() -> None:
    try:
        if not cache.add(API_KEYS_GENERATION, 1, timeout=None):
            cache.incr(API_KEYS_GENERATION)
    except Exception as exc:  # noqa: BLE001 - a cache outage must not fail the revocation itself
        # Remembered keys then live out their minute: the bound the API promises while the cache is down.
        logger.warning("Could not publish an API key change to the cache (%s)", type(exc).__name__)


def api_keys_changed(**_signal_kwargs: object) -> None:
    _bump()
    transaction.on_commit(_bump)
