"""The application's own webhook endpoint: send a test event, rotate the signing secret."""

from datetime import datetime, timedelta

from ninja import Field, Router, Schema, Status

from apps.api.auth import actor_for
from apps.api.v1.common import ERRORS
from apps.api.v1.schemas import Out, Timestamp
from apps.tenants.services import WEBHOOK_SECRET_OVERLAP, application_webhook_secret_rotate
from apps.webhooks.services import webhook_test_event_send

router = Router(tags=["webhooks"])


class TestEventOut(Out):
    delivery_id: str
    event_id: str
    url: str
    status: str = Field(..., description="`pending` until the worker has sent it; see the admin's deliveries.")


class RotateSecretIn(Schema):
    overlap_seconds: int = Field(
        int(WEBHOOK_SECRET_OVERLAP.total_seconds()),
        ge=0,
        le=7 * 86400,
        description="How long the old secret keeps signing deliveries beside the new one.",
    )


class RotateSecretOut(Out):
    secret: str = Field(..., description="Shown once. Verify deliveries with it (Standard Webhooks).")
    previous_secret_valid_until: Timestamp | None


@router.post("/webhooks/test-event", response={202: TestEventOut, **ERRORS})
def send_test_event(request):
    """Queue a signed `webhook.test` event to the application's webhook URL (422 when it has none)."""
    delivery = webhook_test_event_send(application=request.auth.application, actor=actor_for(request))
    body = {"delivery_id": delivery.pk, "event_id": delivery.payload["id"], "url": delivery.url}
    return Status(202, {**body, "status": delivery.status})


@router.post("/webhooks/rotate-secret", response={200: RotateSecretOut, **ERRORS})
def rotate_secret(request, payload: RotateSecretIn):
    """A new signing secret, returned once; the old one keeps signing beside it for `overlap_seconds`."""
    application = request.auth.application
    secret = application_webhook_secret_rotate(
        application=application, overlap=timedelta(seconds=payload.overlap_seconds), actor=actor_for(request)
    )
    previous = application.webhook_secret.get("previous") or []
    valid_until = datetime.fromisoformat(previous[0]["valid_until"]) if previous else None
    return {"secret": secret, "previous_secret_valid_until": valid_until}
