from django.db import models

from apps.core.models import AuditEvent


def audit_record(
    *,
    action: str,
    target: models.Model,
    actor: str = "system",
    application=None,
    data: dict | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        application_id=application.pk if application is not None else getattr(target, "application_id", None),
        actor=actor,
        action=action,
        target_type=target._meta.model_name,
        target_id=str(target.pk),
        data=data or {},
    )
