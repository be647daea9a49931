import re

import pytest
from django.urls import reverse

from apps.core.ids import PrefixedId, new_id
from apps.core.models import AuditEvent
from apps.core.services import audit_record
from apps.core.tasks import ping
from config.celery import app as celery_app
from tests.factories import ApplicationFactory

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_and_broker_ok(client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_healthz_is_503_json_when_the_broker_is_unreachable(client, monkeypatch):
    unreachable = "redis://127.0.0.1:1/0"
    # Celery reads CELERY_BROKER_URL from the environment before its own config (CI sets it to a live Redis).
    monkeypatch.setenv("CELERY_BROKER_URL", unreachable)
    monkeypatch.setattr(celery_app.conf, "broker_url", unreachable)
    monkeypatch.setattr(celery_app.conf, "broker_write_url", None)
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"] != "ok"


def test_healthz_refuses_writes(client):
    assert client.post(reverse("healthz")).status_code == 405


def test_ids_are_prefixed_sortable_ulids():
    first, second = new_id("conn"), new_id("conn")
    assert re.fullmatch(r"conn_[0-9a-z]{26}", first)
    assert first != second
    assert PrefixedId("conn") == PrefixedId("conn") != PrefixedId("cus")
    assert PrefixedId("app")().startswith("app_")


def test_models_get_prefixed_primary_keys():
    application = ApplicationFactory()
    assert application.pk.startswith("app_")


def test_audit_record_names_target_and_application():
    application = ApplicationFactory()
    event = audit_record(
        action="thing.done", target=application, application=application, actor="staff:ann", data={"k": 1}
    )
    assert AuditEvent.objects.get(pk=event.pk).application == application
    assert (event.target_type, event.target_id, event.actor) == ("application", application.pk, "staff:ann")
    assert str(event) == f"thing.done application:{application.pk}"


def test_ping_task_runs():
    assert ping.delay().get() == "pong"


def test_the_root_url_leads_to_the_staff_admin(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
