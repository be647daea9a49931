import time

import pytest
from django.core.cache import cache
from django.urls import reverse

from apps.ops.tasks import ping
from apps.ops.worker_health import LAST_TASK_KEY
from config.celery import app as celery_app

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_heartbeat_from_other_tests():
    cache.delete(LAST_TASK_KEY)


def test_healthz_reports_database_and_broker_ok(client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok", "cache": "ok", "worker": "no task taken yet"},
    }
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_healthz_is_degraded_when_the_broker_is_unreachable(client, monkeypatch):
    """Pages, portal and API still answer without the broker: degraded (200), not down."""
    unreachable = "redis://127.0.0.1:1/0"
    # broker_write_url first and the environment last: the write URL falls back to both, so patched later
    # its recorded "old" value would be the unreachable one and stay after the test.
    monkeypatch.setattr(celery_app.conf, "broker_write_url", None)
    monkeypatch.setattr(celery_app.conf, "broker_url", unreachable)
    # Celery reads CELERY_BROKER_URL from the environment before its own config (CI sets it to a live Redis).
    monkeypatch.setenv("CELERY_BROKER_URL", unreachable)
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"] != "ok"


def test_healthz_reports_a_worker_that_has_not_taken_a_task_for_too_long(client, settings):
    settings.PATCHBAY_WORKER_STALE_SECONDS = 300
    cache.set(LAST_TASK_KEY, time.time() - 1000, timeout=None)
    body = client.get(reverse("healthz")).json()
    assert body["status"] == "degraded" and body["checks"]["worker"].startswith("no task taken for 10")
    cache.set(LAST_TASK_KEY, time.time() - 5, timeout=None)
    assert client.get(reverse("healthz")).json()["status"] == "ok"


def test_healthz_refuses_writes(client):
    assert client.post(reverse("healthz")).status_code == 405


def test_ping_task_runs():
    assert ping.delay().get() == "pong"


def test_the_root_url_leads_to_the_staff_admin(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
