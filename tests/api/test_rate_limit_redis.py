"""The rate limiter on the Redis cache production uses: one pipelined round trip per request.

Needs a Redis at REDIS_URL (its patchbay:api-rate:* keys are deleted afterwards); skipped, with the reason
shown, without one.
"""

import os
from unittest import mock

import pytest
import redis
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from apps.api import auth
from apps.tenants.services import api_key_revoke

pytestmark = pytest.mark.django_db

REDIS_URL = os.environ.get("REDIS_URL", "")


@pytest.fixture
def redis_cache(settings):
    if not REDIS_URL:
        pytest.skip("REDIS_URL is not set; the locmem path is tested in test_auth_and_errors")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis answers at {REDIS_URL}; the locmem path is tested in test_auth_and_errors")
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    yield client
    for key in [*client.scan_iter("patchbay:api-rate:*"), *client.scan_iter("*patchbay:api-keys:generation")]:
        client.delete(key)


def test_limit_counts_in_redis_with_a_window_ttl(api, settings, redis_cache, fresh_rate_window):
    """INCR and EXPIRE NX in one pipeline: the window's key counts every request and expires with it.
    (bench/http_list.py prints the Redis commands per request; the server is shared, so not asserted here.)"""
    settings.PATCHBAY_API_RATE_LIMIT_PER_MINUTE = 3
    for _ in range(3):
        assert api.get("/api/v1/providers").status_code == 200
    assert api.get("/api/v1/providers").status_code == 429
    (key,) = list(redis_cache.scan_iter("patchbay:api-rate:*"))
    assert int(redis_cache.get(key)) == 4
    assert 0 < redis_cache.ttl(key) <= auth.RATE_WINDOW_SECONDS + 5


def test_a_remembered_key_is_checked_against_revocation_in_the_limiters_round_trip(api, api_key, settings, redis_cache):
    settings.PATCHBAY_API_RATE_LIMIT_PER_MINUTE = 100
    assert api.get("/api/v1/connections").status_code == 200
    pipelines = []
    execute = redis.client.Pipeline.execute

    def recorded(pipeline, *args, **kwargs):
        pipelines.append([command[0][0] for command in pipeline.command_stack])
        return execute(pipeline, *args, **kwargs)

    with mock.patch.object(redis.client.Pipeline, "execute", recorded), CaptureQueriesContext(db_connection) as ctx:
        assert api.get("/api/v1/connections").status_code == 200
    assert pipelines == [["INCRBY", "EXPIRE", "GET"]]
    assert not [q for q in ctx.captured_queries if '"tenants_apikey"' in q["sql"]]
    api_key_revoke(api_key=api_key[0])
    assert api.get("/api/v1/connections").status_code == 401
