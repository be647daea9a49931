import re

import pytest
from standardwebhooks.webhooks import Webhook

from apps.core.timestamps import TIMESTAMP_PATTERN
from apps.tenants.models import Application
from apps.webhooks.models import WebhookDelivery
from tests.provider_server import running_fake_provider


@pytest.fixture
def receiver():
    with running_fake_provider() as provider:
        provider.on("POST", "/hooks", body={})
        yield provider


def test_test_event_is_queued_then_delivered_signed(api, application, receiver, django_capture_on_commit_callbacks):
    Application.objects.filter(pk=application.pk).update(webhook_url=f"{receiver.url}/hooks")
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/webhooks/test-event")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "pending" and body["url"] == f"{receiver.url}/hooks"
    secret = Application.objects.get(pk=application.pk).webhook_secret["secret"]
    request = receiver.calls("/hooks")[0]
    event = Webhook(secret).verify(request.body, request.headers)
    assert event["id"] == body["event_id"] and event["type"] == "webhook.test"
    assert WebhookDelivery.objects.get(pk=body["delivery_id"]).application_id == application.pk


def test_test_event_without_a_webhook_url_says_what_to_do(api, application):
    response = api.post("/api/v1/webhooks/test-event")
    assert response.status_code == 422
    assert "webhook URL" in str(response.json()["error"]["details"])
    assert not WebhookDelivery.objects.exists()


def test_rotate_secret_returns_the_new_secret_once_and_keeps_the_old_one_for_the_overlap(api, application):
    old = Application.objects.get(pk=application.pk).webhook_secret["secret"]
    response = api.post("/api/v1/webhooks/rotate-secret", {"overlap_seconds": 3600})
    assert response.status_code == 200, response.content
    body = response.json()
    stored = Application.objects.get(pk=application.pk).webhook_secret
    assert re.match(r"^whsec_[A-Za-z0-9+/]+=*$", body["secret"]) and stored["secret"] == body["secret"]
    assert [p["secret"] for p in stored["previous"]] == [old]
    assert re.match(TIMESTAMP_PATTERN, body["previous_secret_valid_until"])
    assert api.post("/api/v1/webhooks/rotate-secret", {"overlap_seconds": -1}).status_code == 422
